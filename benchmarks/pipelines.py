"""A 10-step pipeline re-run with every step cached: `mloop pipeline run` from command to exit.

    python benchmarks/pipelines.py               # 5 timed runs of each
    python benchmarks/pipelines.py --repeat 1    # smoke run

Set up first, not timed: a workspace with a pipelines.py of ten steps (a Path input → parse →
two branches of four steps each → join), run once so every step has a cached result.

Timed:
* the whole ``mloop pipeline run bench`` command as a user runs it, interpreter start-up
  included (wall time, CPU and peak RSS from wait4), beside ``mloop --version``-like start-up
  (``mloop pipeline --help``: the command tree, no workspace, no pipeline) and beside a bare
  ``python -c "import sqlalchemy, sqlalchemy.dialects.sqlite"``: the metadata store's import,
  which every command that opens a workspace pays and no change to mloop removes;
* in-process: ``run_pipeline`` of the ten-step pipeline and of a one-step pipeline, all cached;
  the difference over nine is the overhead of one cached step (loading nothing, starting no
  process: a cache key, one lookup, one row written).
Targets (issue 16 §7): under 0.5 s from command to exit; under 20 ms per cached step.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

MLOOP = [sys.executable, "-m", "mloop"]
STORE_IMPORT = [sys.executable, "-c", "import sqlalchemy, sqlalchemy.dialects.sqlite"]
TARGET_S = 0.5
TARGET_STEP_MS = 20.0

PIPELINES = """\
from pathlib import Path

import mloop

OFFSET = 3


def scaled(values, factor):
    return [v * factor for v in values]


@mloop.step
def parse(path: Path) -> list:
    return [int(v) for v in path.read_text().split()]


@mloop.step
def left_1(values: list) -> list:
    return scaled(values, 2)


@mloop.step
def left_2(values: list) -> list:
    return [v + OFFSET for v in values]


@mloop.step
def left_3(values: list) -> list:
    return sorted(values)


@mloop.step
def left_4(values: list) -> int:
    return sum(values)


@mloop.step
def right_1(values: list) -> list:
    return scaled(values, 3)


@mloop.step
def right_2(values: list) -> list:
    return [v - OFFSET for v in values]


@mloop.step
def right_3(values: list) -> list:
    return sorted(values, reverse=True)


@mloop.step
def right_4(values: list) -> int:
    return max(values)


@mloop.step
def join(left: int, right: int) -> dict:
    return {"left": left, "right": right}


@mloop.pipeline
def bench(data: Path = Path("numbers.txt")):
    values = parse(data)
    left = left_4(left_3(left_2(left_1(values))))
    right = right_4(right_3(right_2(right_1(values))))
    return join(left, right)


@mloop.pipeline
def one(data: Path = Path("numbers.txt")):
    return parse(data)
"""


def load() -> str:
    try:
        return f"{os.getloadavg()[0]:.1f}"
    except OSError:
        return "?"


def timed_process(ws: Path, *args: str, argv: list[str] | None = None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLOOP_")}
    argv = argv or [*MLOOP, "--workspace", str(ws), *args]
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ws
    )
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"mloop {' '.join(args)} exited {code}: {err[-2000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
        "out": out,
        "err": err,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    # A pip-installed mloop has its bytecode compiled at install. With this variable set (some
    # sandboxes set it) every timed command would recompile mloop's sources: no user pays that.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    sys.dont_write_bytecode = False
    from mloop.pipelines import run_pipeline
    from mloop.workspace import Workspace

    print(f"python {platform.python_version()}, {os.cpu_count()} cores, load {load()}")
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "ws"
        ws, _ = Workspace.init(root, environ={})
        (root / "pipelines.py").write_text(PIPELINES)
        (root / "numbers.txt").write_text(" ".join(str(i) for i in range(1000)))
        began = time.perf_counter()
        first = run_pipeline(ws, "bench")
        assert first.status == "succeeded", first.error
        print(f"first run (10 steps in the process pool): {time.perf_counter() - began:.2f} s")
        run_pipeline(ws, "one")

        command = [timed_process(root, "pipeline", "run", "bench") for _ in range(args.repeat)]
        assert all(c["err"].count("cached") == 10 for c in command), command[0]["err"]
        startup = [timed_process(root, "pipeline", "--help") for _ in range(args.repeat)]
        store = [timed_process(root, argv=STORE_IMPORT) for _ in range(args.repeat)]
        whole = statistics.median(c["wall_s"] for c in command)
        bare = statistics.median(c["wall_s"] for c in startup)
        floor = statistics.median(c["wall_s"] for c in store)
        print(
            "`mloop pipeline run bench`, all 10 cached, from command to exit: "
            + ", ".join(f"{c['wall_s']:.3f}" for c in command)
            + f" s; median {whole:.3f} s"
            f" (CPU {statistics.median(c['cpu_s'] for c in command):.3f} s,"
            f" peak {max(c['peak_mib'] for c in command):.0f} MiB, load {load()})"
        )
        print(
            f"`mloop pipeline --help` (start-up, no pipeline): median {bare:.3f} s;"
            f" the pipeline adds {whole - bare:.3f} s"
        )
        print(
            f"python -c 'import sqlalchemy' (+ its SQLite dialect) alone: median {floor:.3f} s"
            f" (CPU {statistics.median(c['cpu_s'] for c in store):.3f} s);"
            f" the command spends {whole - floor:.3f} s beyond it"
        )
        print(f"ratio command / target {TARGET_S} s: {whole / TARGET_S:.2f}")

        ten, single = [], []
        for _ in range(max(args.repeat, 3)):
            began = time.perf_counter()
            cached = run_pipeline(ws, "bench")
            ten.append(time.perf_counter() - began)
            assert {s.status for s in cached.steps} == {"cached"}
            began = time.perf_counter()
            run_pipeline(ws, "one")
            single.append(time.perf_counter() - began)
        t10, t1 = statistics.median(ten), statistics.median(single)
        per_step = (t10 - t1) / 9 * 1000
        print(
            f"in-process run_pipeline, all cached: 10 steps {t10 * 1000:.1f} ms,"
            f" 1 step {t1 * 1000:.1f} ms"
        )
        print(
            f"per cached step: {per_step:.1f} ms;"
            f" ratio per step / target {TARGET_STEP_MS:.0f} ms: {per_step / TARGET_STEP_MS:.2f}"
        )
        ws.close()


if __name__ == "__main__":
    main()
