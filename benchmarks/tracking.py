"""10,000 ``log_metric`` calls in one run: mloop vs MLflow's local SQLite store, side by side.

    python benchmarks/tracking.py                   # 10,000 calls each
    python benchmarks/tracking.py --n 200           # smoke run
    python benchmarks/tracking.py --mlflow-n 1000   # time fewer MLflow calls (printed as such)
    python benchmarks/tracking.py --peer-python /path/to/venv-with-mlflow/bin/python

Each side runs in its own process (so peak RSS is its own) and is timed from ``start_run`` to the
run being closed with every point in the store; afterwards the points are counted back. Target
(issue 2): mloop >= 50x faster.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_mloop(root: Path, n: int) -> dict[str, float]:
    import sqlalchemy as sa

    import mloop
    from mloop.store import tables as t
    from mloop.workspace import Workspace

    workspace, _ = Workspace.init(root / "mloop", environ={})
    start = time.perf_counter()
    with mloop.start_run(experiment="bench", workspace=workspace) as run:
        loop_start = time.perf_counter()
        for step in range(n):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        loop = time.perf_counter() - loop_start
    total = time.perf_counter() - start
    with workspace.store.read() as conn:
        query = (
            sa.select(sa.func.count()).select_from(t.metrics).where(t.metrics.c.run_id == run.id)
        )
        stored = conn.execute(query).scalar_one()
    return {"total": total, "loop": loop, "stored": stored}


def run_mlflow(root: Path, n: int) -> dict[str, float]:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    start = time.perf_counter()
    with mlflow.start_run() as run:
        loop_start = time.perf_counter()
        for step in range(n):
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
        loop = time.perf_counter() - loop_start
    total = time.perf_counter() - start
    stored = len(mlflow.tracking.MlflowClient().get_metric_history(run.info.run_id, "loss"))
    return {"total": total, "loop": loop, "stored": stored}


def child(side: str, n: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mloop-bench-") as tmp:
        result = (run_mloop if side == "mloop" else run_mlflow)(Path(tmp), n)
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def measure(side: str, n: int, python: str = sys.executable) -> dict[str, float] | None:
    done = subprocess.run(
        [python, __file__, "--child", side, "--n", str(n)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        if side == "mlflow" and "No module named 'mlflow'" in done.stderr:
            return None
        raise SystemExit(f"{side} side failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument(
        "--mlflow-n", type=int, default=None, help="MLflow calls to time (default: --n)"
    )
    parser.add_argument(
        "--peer-python",
        default=sys.executable,
        help="interpreter with mlflow installed (default: this one)",
    )
    parser.add_argument("--child", choices=["mloop", "mlflow"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.n)
        return
    mlflow_n = args.mlflow_n or args.n
    print(
        f"{'tool':8} {'calls':>7} {'total s':>9} {'calls/s':>10} {'µs/call in loop':>16} {'peak RSS MiB':>13} {'stored':>7}"
    )
    ours = measure("mloop", args.n)
    assert ours is not None
    print(
        f"{'mloop':8} {args.n:7d} {ours['total']:9.3f} {args.n / ours['total']:10.0f} "
        f"{ours['loop'] / args.n * 1e6:16.2f} {ours['peak_rss_mib']:13.0f} {int(ours['stored']):7d}"
    )
    peer = measure("mlflow", mlflow_n, args.peer_python)
    if peer is None:
        print("mlflow not installed: pip install -e '.[bench]' for the side-by-side comparison")
        return
    print(
        f"{'mlflow':8} {mlflow_n:7d} {peer['total']:9.3f} {mlflow_n / peer['total']:10.0f} "
        f"{peer['loop'] / mlflow_n * 1e6:16.2f} {peer['peak_rss_mib']:13.0f} {int(peer['stored']):7d}"
    )
    ratio = (peer["total"] / mlflow_n) / (ours["total"] / args.n)
    scaled = " per call (MLflow timed on fewer calls)" if mlflow_n != args.n else ""
    print(f"ratio mlflow / mloop: {ratio:.0f}x{scaled} (target >= 50x)")
    print(f"both stored every point: {ours['stored'] == args.n and peer['stored'] == mlflow_n}")


if __name__ == "__main__":
    main()
