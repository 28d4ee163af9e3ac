"""An 8-trial sweep three ways: one trial at a time, the local process pool, and Ray.

What is timed is what the user pays: the whole ``mloop train --sweep`` command, from start to
exit (Python start-up, imports, the pool's or Ray's start-up and shutdown, every trial, the
records). The sweep's own ``seconds`` (from the parent run's creation to the last trial) is
printed beside it, so the start-up each executor costs can be read off.

Each trial is a random forest on the churn table, fitted on one core (``--param n_jobs=1``), so
one-at-a-time is truly sequential and the parallel runs gain only from running trials side by
side. ``sequential`` is the same command with ``[executor] max_workers = 1``. All three use
the same seeds, so their trials' metrics must agree: the script checks it.

Ray is measured two ways. ``ray`` is a private Ray that the command starts and stops itself
(what ``MLOOP_EXECUTOR=ray`` does alone), so its start-up and shutdown are in the command's
time. ``ray-joined`` joins a Ray cluster that is already running (``MLOOP_RAY_ADDRESS``), as a
team with a cluster would: the script starts one with ``ray start --head`` on loopback before
that command and stops it after, neither of which is timed.

Two table sizes by default, because the answer depends on how long a trial is. Every way pays
a few seconds that no executor can share out (start-up, imports, the pool's or Ray's start, the
records): against 8 trials of 1.5 s (20,000 rows) that is a third of the command, so on 2 cores
no executor reaches 1.7x there; against trials of 6 s (100,000 rows) it is a tenth. Both are
printed, with the speed-ups for each.

    python benchmarks/sweep.py                       # 20,000 and 100,000 rows, 8 trials, all four
    python benchmarks/sweep.py --rows 200000         # one size
    python benchmarks/sweep.py --smoke               # toy size, no Ray
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import io
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _churn_file import write_churn

SRC = Path(__file__).resolve().parents[1] / "src"
SWEEP = ["--sweep", "max_depth=6,8,10,12", "--sweep", "min_samples_leaf=1,4"]  # 8 trials
# --smoke: 4 trials, still both axes and two trials for each of the pool's two workers
SMOKE_SWEEP = ["--sweep", "max_depth=6,8", "--sweep", "min_samples_leaf=1,4"]


def _load() -> float:
    return os.getloadavg()[0]


def _steal() -> float:
    """CPU seconds the hypervisor gave other guests while this VM wanted them (Linux's
    /proc/stat), 0 elsewhere: a run that lost seconds to a busy host is told apart from a slow
    one, since on a shared VM both look the same on the clock."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def _mloop(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "mloop", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"mloop {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return seconds, done.stdout


def _in_process(root: Path, args: list[str]) -> None:
    """``mloop ARGS`` in this process, output captured: for the untimed set-up, where an
    interpreter start per step was 0.6-0.9 s of the smoke run."""
    from mloop.cli.app import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--workspace", str(root), *args])
    if code != 0:
        raise SystemExit(f"mloop {' '.join(args)} failed:\n{err.getvalue()[-3000:]}")


def _workspace(root: Path, rows: int) -> None:
    root.mkdir()
    _in_process(root, ["init", str(root)])
    write_churn(root / "churn.parquet", rows, seed=1, target=True)
    _in_process(root, ["data", "add", "churn", str(root / "churn.parquet")])


def _set_workers(root: Path, workers: int) -> None:
    config = root / "mloop.toml"
    text = config.read_text().split("\n[executor]")[0]
    config.write_text(text + f"\n[executor]\nmax_workers = {workers}\n")


@contextmanager
def _ray_cluster(env: dict[str, str]) -> Iterator[dict[str, str]]:
    """A running Ray (``ray start --head --block``) on loopback with token authentication; yields
    the environment that joins it. Stopped with the signal ``--block`` waits for."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    command = [
        sys.executable, "-c", "from ray.scripts.scripts import main; main()",
        "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port),
        "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats",
    ]  # fmt: skip
    head_env = {**env, **auth, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # bind loopback only
    head = subprocess.Popen(
        command, env=head_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert head.stdout is not None
    try:
        seen = []
        for line in head.stdout:
            seen.append(line)
            if "Ray runtime started" in line:
                break
        else:
            raise SystemExit("ray start --head failed:\n" + "".join(seen[-20:]))
        time.sleep(5)  # a running cluster is idle when a command joins it, not starting up
        yield {**auth, "MLOOP_RAY_ADDRESS": f"127.0.0.1:{port}"}
    finally:
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=60)
        head.stdout.close()


@contextmanager
def _no_cluster() -> Iterator[dict[str, str]]:
    yield {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", default="20000,100000", help="table sizes, comma-separated: one round each"
    )
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--executors", default="sequential,local,ray,ray-joined")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of all three, interleaved; medians compared"
    )
    parser.add_argument("--smoke", action="store_true", help="500 rows, 5 trees, 4 trials, no Ray")
    args = parser.parse_args()
    # A pip-installed mloop has its bytecode compiled at install. With this variable set (some
    # sandboxes set it) every timed command would recompile mloop's sources: no user pays that.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    grid = SWEEP
    if args.smoke:
        args.rows, args.trees, args.executors = "500", 5, "sequential,local"
        grid = SMOKE_SWEEP
    kinds = args.executors.split(",")
    trials = 1
    for axis in grid[1::2]:
        trials *= len(axis.split("=", 1)[1].split(","))
    for key in [k for k in os.environ if k.startswith("MLOOP_")]:
        del os.environ[key]  # the set-up in this process and every command see one environment
    os.environ["MLOOP_USER"] = "bench"
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)

    try:
        if any(k.startswith("ray") for k in kinds):
            import ray

            ray_version = ray.__version__
        else:  # only the version is printed: no need to import Ray (0.6-0.8 s) for it
            ray_version = importlib.metadata.version("ray")
    except ImportError:  # PackageNotFoundError is one
        ray_version = "not installed"
        kinds = [k for k in kinds if not k.startswith("ray")]
    print(
        f"sweep: {os.cpu_count()} cores, Python {platform.python_version()}, Ray {ray_version}; "
        f"load {_load():.1f} (1-minute average; other sessions share the cores)"
    )
    sizes = [int(size) for size in args.rows.split(",")]
    if "ray" in kinds:
        print("ray: a private Ray the command starts and stops (both timed)")
    if "ray-joined" in kinds:
        print(
            "ray-joined: a running cluster (ray start --head on loopback, started before "
            "the command and stopped after, untimed) joined with MLOOP_RAY_ADDRESS"
        )
    summary = []
    for rows in sizes:
        summary += _one_size(rows, args.trees, grid, trials, kinds, args.repeat, env)
    if len(sizes) > 1:
        print("\n".join(["", "speed-ups vs sequential, by table size:", *summary]))


def _one_size(
    rows: int,
    trees: int,
    grid: list[str],
    trials: int,
    kinds: list[str],
    repeat: int,
    env: dict[str, str],
) -> list[str]:
    """Every way on one table, ``repeat`` interleaved rounds; prints the rounds and the
    speed-ups, returns the speed-up lines for the summary."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        _workspace(root, rows)
        command = [
            "train", "--data", "churn", "--target", "churned", "--model", "random_forest",
            "--param", f"n_estimators={trees}", "--param", "n_jobs=1", *grid, "--json",
        ]  # fmt: skip
        print(
            f"\n{trials} trials: random_forest ({trees} trees, one core each) on "
            f"{rows:,} rows, max_depth x min_samples_leaf"
        )
        print(
            f"{'way':<12} {'command (s)':>11} {'sweep (s)':>10} {'trial mean (s)':>15}  load"
            "  steal (s)"
        )
        runs: dict[str, list[tuple[float, Any]]] = {kind: [] for kind in kinds}
        for _ in range(repeat):
            for kind in kinds:
                _set_workers(root, 1 if kind == "sequential" else 2)
                run_env = {
                    **env,
                    "MLOOP_EXECUTOR": "ray" if kind.startswith("ray") else "local",
                }
                with _ray_cluster(env) if kind == "ray-joined" else _no_cluster() as joined:
                    load, stolen = _load(), _steal()
                    seconds, stdout = _mloop(command, root, {**run_env, **joined})
                    stolen = _steal() - stolen
                out = json.loads(stdout)
                trial_mean = sum(t["seconds"] for t in out["trials"]) / len(out["trials"])
                runs[kind].append((seconds, out))
                print(
                    f"{kind:<12} {seconds:>11.2f} {out['seconds']:>10.2f} {trial_mean:>15.2f}  "
                    f"{load:>4.1f}  {stolen:>9.1f}"
                )
    command_s = {k: statistics.median(s for s, _ in found) for k, found in runs.items()}
    sweep_s = {k: statistics.median(o["seconds"] for _, o in found) for k, found in runs.items()}
    lines = []
    for kind in kinds[1:]:
        line = (
            f"{kind} vs sequential: {command_s['sequential'] / command_s[kind]:.2f}x "
            f"for the command (start-up included), "
            f"{sweep_s['sequential'] / sweep_s[kind]:.2f}x for the sweep alone"
            + (f" (medians of {repeat})" if repeat > 1 else "")
        )
        print(f"speed-up {line}")
        lines.append(f"  {rows:>9,} rows: {line}")
    metrics = {
        kind: [t["metrics"].get("roc_auc") for t in out["trials"]]
        for kind, found in runs.items()
        for _, out in found[:1]
    }
    same = len({json.dumps(v) for v in metrics.values()}) == 1
    print(f"same trial metrics on every executor: {'yes' if same else 'NO'}")
    return lines


if __name__ == "__main__":
    main()
