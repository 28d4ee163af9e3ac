"""What the serving core adds per request, beside the model itself (no HTTP: see serving.py).

    python benchmarks/serving_core.py              # 1,000 calls per figure
    python benchmarks/serving_core.py --n 20       # smoke run
    python benchmarks/serving_core.py --model random_forest

Trains the churn pipeline in a temporary workspace, then times, per call and per row (median):
parsing a body (MLflow records, and a tritonclient binary V2 body), validating the rows against
the model's rules, and scoring: ``ModelRunner.score`` on one row against the in-process floor
``LoadedModel.predict_proba`` on a one-row DataFrame, the ONNX runtime on one row, one call of 32
rows, and 32 concurrent one-row requests through the micro-batcher.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from mloop.api import add_dataset
from mloop.demo_data import generate
from mloop.registry.export import export_onnx_file
from mloop.registry.loading import LoadedModel, load_model
from mloop.registry.register import register_run
from mloop.serving.batcher import Batcher
from mloop.serving.codec import parse_predict
from mloop.serving.runner import ModelRunner
from mloop.serving.v2 import parse_infer
from mloop.training.train import train
from mloop.workspace import Workspace


def timed(fn: Callable[[], Any], n: int) -> float:
    """Median seconds per call over ``n`` calls (after a few warm-up calls)."""
    for _ in range(min(20, n)):
        fn()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def trained(root: Path, model: str) -> tuple[LoadedModel, bytes, str]:
    environ = {"MLOOP_STORE_URL": f"sqlite:///{root / 'mloop.db'}", "MLOOP_USER": "bench"}
    ws, _ = Workspace.init(root / "ws", environ=environ)
    path = root / "churn.csv"
    generate(2000, seed=5).to_csv(path, index=False)
    add_dataset("churn", path, workspace=ws)
    result = train(
        ws.store,
        ws.artifacts,
        data="churn",
        target="churned",
        user="bench",
        root=ws.root,
        model=model,
        seed=11,
    )
    version = register_run(
        ws.store, ws.artifacts, run_id=result.run_id, name="churn", actor="bench"
    )
    written = export_onnx_file(ws.store, ws.artifacts, version.ref, root / "churn.onnx")
    return load_model(ws.store, ws.artifacts, version.ref), written.path.read_bytes(), written.hash


def v2_body(rows: pd.DataFrame) -> tuple[bytes, int | None]:
    import tritonclient.http as triton

    inputs = []
    for name in rows.columns:
        column = rows[name]
        if column.dtype == bool:
            array, kind = column.to_numpy(), "BOOL"
        elif pd.api.types.is_numeric_dtype(column):
            array, kind = column.astype("float64").to_numpy(na_value=np.nan), "FP64"
        else:
            array, kind = column.astype(object).where(column.notna(), "").to_numpy(), "BYTES"
        tensor = triton.InferInput(name, [len(rows)], kind)
        tensor.set_data_from_numpy(array, binary_data=True)
        inputs.append(tensor)
    body, size = triton.InferenceServerClient.generate_request_body(inputs)
    return body, size


async def batched(runner: ModelRunner, columns: dict[str, Any], clients: int, rounds: int) -> float:
    """Seconds per round of ``clients`` concurrent one-row requests through the batcher."""
    batcher = Batcher(runner, max_rows=64, max_wait_ms=2.0)
    await batcher.submit(columns, 1)
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        await asyncio.gather(*(batcher.submit(columns, 1) for _ in range(clients)))
        samples.append(time.perf_counter() - start)
    await batcher.aclose()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="calls per figure")
    parser.add_argument("--model", default="logistic")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        loaded, onnx, onnx_hash = trained(Path(folder), args.model)
        runner = ModelRunner.from_loaded(loaded)
        fast = ModelRunner.from_onnx(loaded.version, onnx, expected_hash=onnx_hash)
        runner.warm()
        fast.warm()
        features = list(loaded.version.signature.input_names)
        rows = generate(64, seed=3, month=2)[features]
        one, many = rows.head(1), rows.head(32)
        body_one = b'{"dataframe_records": ' + one.to_json(orient="records").encode() + b"}"
        body_many = b'{"dataframe_records": ' + many.to_json(orient="records").encode() + b"}"
        table_one, table_many = parse_predict(body_one), parse_predict(body_many)
        v2_one, v2_size = v2_body(one.dropna())
        n = args.n
        figures: list[tuple[str, float, int]] = [
            ("parse records, 1 row", timed(lambda: parse_predict(body_one), n), 1),
            ("parse records, 32 rows", timed(lambda: parse_predict(body_many), n), 32),
            (
                "parse V2 binary (tritonclient), 1 row",
                timed(lambda: parse_infer(v2_one, header_length=v2_size), n),
                1,
            ),
            (
                "validate, 1 row",
                timed(lambda: runner.validate(parse_predict(body_one)), n)
                - timed(lambda: parse_predict(body_one), n),
                1,
            ),
            (
                "validate, 32 rows",
                timed(lambda: runner.validate(parse_predict(body_many)), n)
                - timed(lambda: parse_predict(body_many), n),
                32,
            ),
            (
                "in-process predict_proba, 1-row DataFrame (floor)",
                timed(lambda: loaded.predict_proba(one), n),
                1,
            ),
            ("ModelRunner.score, 1 row", timed(lambda: runner.score_table(table_one), n), 1),
            ("ModelRunner.score ONNX, 1 row", timed(lambda: fast.score_table(table_one), n), 1),
            (
                "ModelRunner.score, 32 rows in one call",
                timed(lambda: runner.score_table(table_many), n),
                32,
            ),
            (
                "batched: 32 concurrent 1-row requests",
                asyncio.run(batched(runner, table_one.columns, 32, max(5, n // 20))),
                32,
            ),
        ]
        orjson.dumps(runner.score_table(table_one).probability_dicts())
    print(f"serving core, {args.model}, median of {n} calls ({sys.platform})")
    print(f"{'':55s} {'µs/call':>10s} {'µs/row':>10s}")
    for label, seconds, count in figures:
        print(f"{label:55s} {seconds * 1e6:10.1f} {seconds * 1e6 / count:10.1f}")
    floor = figures[5][1]
    print(
        f"overhead of ModelRunner.score over predict_proba, 1 row: {(figures[6][1] - floor) * 1e6:+.1f} µs"
    )
    print(f"batched per-row cost / single-row cost: {figures[9][1] / 32 / figures[6][1]:.3f}")


if __name__ == "__main__":
    main()
