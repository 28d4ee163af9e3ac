"""Metric logging in a training loop: mloop vs MLflow's local SQLite store, side by side.

    python benchmarks/tracking.py                  # 10,000 log_metric calls a side (MLflow: ~1-2 min)
    python benchmarks/tracking.py --mlflow-n 1000  # time 1,000 MLflow calls, extrapolate (printed so)
    python benchmarks/tracking.py --n 200          # smoke run
    python benchmarks/tracking.py --peer-python /tmp/peer-venv/bin/python  # MLflow in its own venv

Target (issue 7): mloop >= 50x faster than ``mlflow.log_metric`` on ``sqlite:///`` (ANCHORS.md: MLflow
took 53-106 s for 10k calls on this machine kind, ~9 ms a call; a 50x target is < 1.8 s).

Each side runs in its own fresh subprocess, so one side's imports and caches do not touch the other's
memory figures. Timed per side: the loop of calls, then the end of the run; for mloop that end is
where the batching writer commits what is still queued, so "until stored" is the fair total (MLflow
writes each point before ``log_metric`` returns). Setup (workspace, MLflow's database migrations) is
done by an earlier process and not timed.

Timed both ways (issue 13: a script that logs 10,000 metrics should finish in well under 60 ms of
tracking, start-up included): "run (s)" is ``start_run`` + the calls + the end, in the process;
"script (s)" is the whole script as a user runs it, from launching the interpreter (imports,
``start_run``) to the run being stored. Memory is the process's peak RSS (imports included) and
how much the RSS grew during the timed part; CPU is the process's (every thread) during "run",
steadier than wall time on a shared machine. Both sides then read their points back: same count,
same last value.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KEY = "loss"


def _rss_mib() -> float:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):  # not Linux: fall back to the peak so far
        return _peak_rss_mib()
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return (
        peak / 2**20 if sys.platform == "darwin" else peak / 2**10
    )  # bytes on macOS, KiB on Linux


def _cpu_s() -> float:
    """This process's CPU time so far, every thread (user + system)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _value(step: int) -> float:
    return 1.0 / (step + 1)


def setup_mloop(folder: Path) -> None:
    from mloop.workspace import Workspace

    Workspace.init(folder / "mloop", environ={})[0].close()


def side_mloop(n: int, folder: Path) -> dict[str, Any]:
    from mloop.tracking.fluent import start_run
    from mloop.tracking.runs import get_run, metric_history
    from mloop.workspace import Workspace

    workspace = Workspace.open(folder / "mloop", environ={})
    cpu = _cpu_s()
    starting = time.perf_counter()
    run = start_run("bench", workspace=workspace)
    before = _rss_mib()
    began = time.perf_counter()
    for step in range(n):
        run.log_metric(KEY, _value(step), step=step)
    called = time.perf_counter()
    run.end()  # the writer commits whatever is still queued
    stored = time.perf_counter()
    stored_at = time.time()
    cpu = _cpu_s() - cpu
    growth = _peak_rss_mib() - before
    history = metric_history(workspace.store, run.id, KEY)
    last = get_run(workspace.store, run.id).metrics[KEY]
    workspace.close()
    return {
        "start_s": began - starting,
        "calls_s": called - began,
        "total_s": stored - began,
        "run_s": stored - starting,
        "run_cpu_s": cpu,
        "stored_at": stored_at,
        "rows": len(history),
        "last": last,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_growth_mib": max(growth, 0.0),
    }


def setup_mlflow(folder: Path) -> None:
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")  # runs the migrations
    mlflow.set_experiment("bench")


def side_mlflow(n: int, folder: Path) -> dict[str, Any]:
    import mlflow
    from mlflow.tracking import MlflowClient

    starting = time.perf_counter()
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    mlflow.set_experiment("bench")
    with mlflow.start_run() as run:
        before = _rss_mib()
        began = time.perf_counter()
        for step in range(n):
            mlflow.log_metric(KEY, _value(step), step=step)
        called = time.perf_counter()
    stored = time.perf_counter()
    stored_at = time.time()
    growth = _peak_rss_mib() - before
    history = MlflowClient().get_metric_history(run.info.run_id, KEY)
    last = max(history, key=lambda m: (m.step, m.timestamp)).value
    return {
        "start_s": began - starting,
        "calls_s": called - began,
        "total_s": stored - began,
        "run_s": stored - starting,
        "stored_at": stored_at,
        "rows": len(history),
        "last": last,
        "peak_rss_mib": _peak_rss_mib(),
        "rss_growth_mib": max(growth, 0.0),
        "version": mlflow.__version__,
    }


def run_side(side: str, n: int, python: str = sys.executable) -> dict[str, Any]:
    """Run one side in a fresh interpreter and return what it measured."""
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true"}
    env = {k: v for k, v in env.items() if not k.startswith("MLOOP_")}
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as folder:
        for step in ("setup", "measure"):
            launched = time.time()
            done = subprocess.run(
                [python, __file__, "--side", side, "--step", step, "--n", str(n), "--dir", folder],
                capture_output=True,
                text=True,
                env=env,
                check=False,
            )
            if done.returncode != 0:
                sys.exit(f"the {side} side failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["script_s"] = result.pop("stored_at") - launched  # interpreter start-up to stored
    return result


def _line(name: str, n: int, r: dict[str, Any], note: str = "") -> str:
    rate = n / r["total_s"] if r["total_s"] else float("inf")
    return (
        f"{name:<7} {n:>7,} {r['start_s']:>9.3f} {r['calls_s']:>10.3f} {r['total_s']:>11.3f}"
        f" {r['run_s']:>8.3f} {r['script_s']:>10.3f} {rate:>11,.0f}"
        f" {r['peak_rss_mib']:>9.0f} {r['rss_growth_mib']:>6.1f} {r['rows']:>7,}{note}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="log_metric calls (default 10,000)")
    parser.add_argument(
        "--mlflow-n", type=int, default=None, help="time this many MLflow calls, extrapolate to --n"
    )
    parser.add_argument("--repeat", type=int, default=3, help="mloop runs; the median is shown")
    parser.add_argument(
        "--peer-python",
        "--mlflow-python",
        dest="peer_python",
        help="an interpreter that has mlflow (e.g. a separate venv, so mlflow's pins do not "
        "change this one); default: this interpreter",
    )
    parser.add_argument("--side", choices=["mloop", "mlflow"], help=argparse.SUPPRESS)
    parser.add_argument("--step", choices=["setup", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side and args.step == "setup":  # a child: the workspace or database, untimed
        (setup_mloop if args.side == "mloop" else setup_mlflow)(args.dir)
        return
    if args.side:  # a child: measure one side, print one JSON line
        measure = side_mloop if args.side == "mloop" else side_mlflow
        print(json.dumps(measure(args.n, args.dir)))
        return

    n = args.n
    print(
        f"tracking: {n:,} log_metric calls in one run, SQLite store; {os.cpu_count()} cores, "
        f"Python {platform.python_version()}"
    )
    mloop_runs = [run_side("mloop", n) for _ in range(max(args.repeat, 1))]
    mloop = sorted(mloop_runs, key=lambda r: r["total_s"])[len(mloop_runs) // 2]
    header = (
        f"{'side':<7} {'calls':>7} {'start (s)':>9} {'calls (s)':>10} {'stored (s)':>11}"
        f" {'run (s)':>8} {'script (s)':>10} {'calls/s':>11} {'peak MiB':>9} {'+MiB':>6}"
        f" {'rows':>7}"
    )
    print(header)
    spread = ", ".join(f"{r['total_s']:.3f}" for r in mloop_runs)
    print(_line("mloop", n, mloop, f"   (median of {len(mloop_runs)} by stored: {spread} s)"))
    runs_ms = ", ".join(f"{r['run_s'] * 1e3:.0f}" for r in mloop_runs)
    cpu_ms = sorted(r["run_cpu_s"] * 1e3 for r in mloop_runs)[len(mloop_runs) // 2]
    print(
        f"mloop start_run + {n:,} calls + end, each run: {runs_ms} ms; CPU median {cpu_ms:.0f} ms "
        f"(every thread); load {os.getloadavg()[0]:.1f}"
    )
    print(
        f"mloop start_run + {n:,} calls + end: {mloop['run_s'] * 1e3:.0f} ms in the process, "
        f"{mloop['script_s'] * 1e3:.0f} ms as a script (interpreter start-up and imports included);"
        f" target < 60 ms in the process: {'met' if mloop['run_s'] < 0.06 else 'NOT met'}"
    )
    assert mloop["rows"] == n and mloop["last"] == _value(n - 1), mloop

    if args.peer_python is None and importlib.util.find_spec("mlflow") is None:
        print("mlflow not installed: pip install -e '.[bench]'  (ran the mloop side only)")
        return
    timed_n = min(args.mlflow_n or n, n)
    mlflow = run_side("mlflow", timed_n, args.peer_python or sys.executable)
    same = mlflow["rows"] == timed_n and mlflow["last"] == _value(timed_n - 1)
    print(_line("mlflow", timed_n, mlflow, f"   (mlflow {mlflow['version']})"))
    scale = n / timed_n
    mlflow_total = mlflow["total_s"] * scale
    if scale != 1:
        print(
            f"EXTRAPOLATED: MLflow timed for {timed_n:,} calls only; x{scale:g} to {n:,} calls "
            f"= {mlflow_total:.1f} s (linear: one transaction per call)"
        )
    ratio = mlflow_total / mloop["total_s"]
    print(
        f"ratio mlflow / mloop until stored: {ratio:,.0f}x"
        f"{' (extrapolated)' if scale != 1 else ''}; target >= 50x: "
        f"{'met' if ratio >= 50 else 'NOT met'}"
    )
    print(
        f"ratio on the calls alone: {mlflow['calls_s'] * scale / mloop['calls_s']:,.0f}x; "
        f"per call: mloop {mloop['calls_s'] / n * 1e6:.1f} us, "
        f"mlflow {mlflow['calls_s'] / timed_n * 1e3:.2f} ms"
    )
    if scale == 1:
        print(
            f"with start-up: run {mlflow['run_s'] / mloop['run_s']:,.0f}x, "
            f"script {mlflow['script_s'] / mloop['script_s']:,.0f}x"
        )
    print(f"same answer: {'yes' if same else 'NO'} (every point stored, same last value)")


if __name__ == "__main__":
    main()
