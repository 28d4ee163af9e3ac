"""`mloop predict` of a big churn file beside the naive pandas way (read_csv → predict → to_csv).

    python benchmarks/batch_predict.py                  # 10M rows (~1 GB CSV), both sides
    python benchmarks/batch_predict.py --rows 5000      # smoke run
    python benchmarks/batch_predict.py --no-naive       # mloop only

One workspace with the churn model (logistic regression trained by `mloop train` on 5,000 rows of
examples/churn); one CSV of the churn schema without the answer (benchmarks/_churn_file.py,
cached in benchmarks/.work). Each side runs as its own process, start-up included, on a file in
the page cache: wall time, rows/s and peak RSS (from wait4). The naive side reads the whole file
into pandas (with "None" kept as a category, as mloop reads it), predicts once, and writes once;
it checks nothing. The answers are compared on every row.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv

sys.path.insert(0, str(Path(__file__).parent))

from _churn_file import write_churn

WORK = Path(__file__).parent / ".work"

NAIVE = """
import sys
import pandas as pd
import mloop
model = mloop.load_model("churn@1", workspace=sys.argv[1])
frame = pd.read_csv(sys.argv[2], keep_default_na=False, na_values=[""])
frame["prediction"] = model.predict(frame)
proba = model.predict_proba(frame)
frame["proba_False"], frame["proba_True"] = proba[:, 0], proba[:, 1]
frame.to_csv(sys.argv[3], index=False)
"""


def _run(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one child process; raises if it fails."""
    start = time.perf_counter()
    process = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0,):
        err = process.stderr.read().decode() if process.stderr else ""
        raise SystemExit(f"{args[:4]} failed ({process.returncode}): {err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024


def _mloop(*args: str) -> None:
    """``mloop ARGS`` in this process: set-up is never timed, and an interpreter start per step
    was half of the smoke run."""
    from mloop.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    if code != 0:
        raise SystemExit(f"mloop {' '.join(args)} failed: {err.getvalue().strip()}")


def _workspace(folder: Path) -> Path:
    from mloop.demo_data import generate

    root = folder / "ws"
    _mloop("init", str(root))
    train = folder / "train.csv"
    frame = generate(5000, seed=1)
    frame.loc[:9, "total_charges"] = None  # new customers have no total yet: a nullable column
    frame.to_csv(train, index=False, date_format="%Y-%m-%d")
    _mloop("--workspace", str(root), "data", "add", "churn", str(train))
    _mloop(
        "--workspace",
        str(root),
        "train",
        "--data",
        "churn",
        "--target",
        "churned",
        "--register",
        "churn",
    )
    return root


def _predictions(path: Path) -> tuple[np.ndarray, np.ndarray]:
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(include_columns=["prediction", "proba_True"]),
    )
    return (
        table.column("prediction").to_numpy(zero_copy_only=False),
        table.column("proba_True").to_numpy(),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--no-naive", dest="naive", action="store_false")
    args = parser.parse_args()

    for key in [k for k in os.environ if k.startswith("MLOOP_")]:
        del os.environ[key]  # the set-up here and both sides' processes see the workspace alone
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).resolve().parents[1] / "src"), env.get("PYTHONPATH", "")]
    )
    WORK.mkdir(exist_ok=True)
    source = WORK / f"churn_{args.rows}.csv"
    if not source.exists():
        write_churn(source.with_suffix(".tmp"), args.rows, seed=7).rename(source)
    size_mib = source.stat().st_size / 2**20
    from mloop.hashing import hash_chunks

    hash_chunks(source)  # into the page cache, so neither side pays for the first read
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        root = _workspace(folder)
        out = {"mloop": folder / "mloop.csv", "naive": folder / "naive.csv"}
        command = {
            "mloop": [
                sys.executable,
                "-m",
                "mloop",
                "--workspace",
                str(root),
                "predict",
                "churn@1",
                "--input",
                str(source),
                "--output",
                str(out["mloop"]),
                "--chunk-rows",
                str(args.chunk_rows),
            ],
            "naive": [sys.executable, "-c", NAIVE, str(root), str(source), str(out["naive"])],
        }
        sides = ["mloop", "naive"] if args.naive else ["mloop"]
        results = {side: _run(command[side], env) for side in sides}
        print(
            f"batch predict: {args.rows:,} rows of the churn schema ({size_mib:,.0f} MiB CSV), "
            f"logistic regression; {os.cpu_count()} cores, Python {sys.version.split()[0]}"
        )
        print(f"{'side':<8}{'seconds':>10}{'rows/s':>12}{'peak MiB':>10}")
        for side, (seconds, peak) in results.items():
            print(f"{side:<8}{seconds:>10.1f}{args.rows / seconds:>12,.0f}{peak:>10,.0f}")
        if args.naive:
            (m_s, m_mib), (n_s, n_mib) = results["mloop"], results["naive"]
            print(f"ratio naive / mloop: time {n_s / m_s:.2f}x, peak memory {n_mib / m_mib:.2f}x")
            mine, theirs = _predictions(out["mloop"]), _predictions(out["naive"])
            same = bool((mine[0] == theirs[0]).all() and np.allclose(mine[1], theirs[1], rtol=1e-9))
            print(f"same predictions: {'yes' if same else 'NO'} (every row)")


if __name__ == "__main__":
    main()
