"""`mloop data add` of a big numeric CSV, beside a plain pyarrow read and md5 (what DVC hashes).

    python benchmarks/data_add.py                 # 1 GiB: ~15M rows x 10 float columns
    python benchmarks/data_add.py --size-mib 4    # smoke run
    python benchmarks/data_add.py --before ../old-checkout   # also time another mloop source
    python benchmarks/data_add.py --repeat 3      # each side 3 times, interleaved; medians shown

Every side runs as its own process, start-up included, on a file in the page cache (each is run
once before timing); the figures are wall time, the process's CPU time (user + system, all
threads: on a shared machine the steadier figure) and its peak RSS. With ``--repeat`` the sides
take turns, so a burst of load elsewhere hits them alike. Target (issue 13): `mloop data add` of
1 GiB under 10 s with memory bounded by batches, not by the file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

WORK = Path(__file__).parent / ".work"
COLUMNS = 10
BYTES_PER_ROW = 70  # ten values like "57.123," per row

PLAIN_READ = """
import sys, pyarrow.csv as c
t = c.read_csv(sys.argv[1])
print(t.num_rows)
"""
MD5 = """
import hashlib, sys
d = hashlib.md5(usedforsecurity=False)
b = bytearray(8 << 20); v = memoryview(b)
with open(sys.argv[1], "rb", buffering=0) as f:
    while n := f.readinto(v):
        d.update(v[:n])
print(d.hexdigest())
"""


def make_csv(size_mib: int) -> Path:
    """A CSV of ``size_mib`` MiB of floats with three decimals, written once and kept."""
    WORK.mkdir(exist_ok=True)
    path = WORK / f"floats_{size_mib}mib.csv"
    if path.exists():
        return path
    rows = size_mib * 2**20 // BYTES_PER_ROW
    rng = np.random.default_rng(0)
    tmp = path.with_suffix(".tmp")
    names = [f"x{i}" for i in range(COLUMNS)]
    with pacsv.CSVWriter(tmp, pa.schema([(n, pa.float64()) for n in names])) as writer:
        for start in range(0, rows, 1_000_000):
            n = min(1_000_000, rows - start)
            block = np.round(rng.uniform(0, 100, (COLUMNS, n)), 3)
            writer.write_table(pa.table(dict(zip(names, block, strict=True))))
    tmp.rename(path)
    return path


Timing = tuple[float, float, float]


def run(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> Timing:
    """Wall seconds, CPU seconds (user + system) and peak RSS (MiB) of one process."""
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    err = process.stderr.read().decode() if process.stderr else ""
    if process.returncode:
        raise SystemExit(f"{argv[:3]} failed: {err[-2000:]}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def mloop_add(path: Path, folder: Path, source: Path | None = None) -> Timing:
    """A fresh workspace each time, so the add is never a no-op on known bytes; ``source`` is
    another checkout's src folder to run instead of the installed mloop."""
    workspace = folder / "ws"
    shutil.rmtree(workspace, ignore_errors=True)
    workspace.mkdir()
    env = None if source is None else {**os.environ, "PYTHONPATH": str(source)}
    mloop = [sys.executable, "-m", "mloop"]
    subprocess.run([*mloop, "init"], cwd=workspace, check=True, capture_output=True, env=env)
    return run([*mloop, "data", "add", "big", str(path)], workspace, env)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--before", type=Path, help="another mloop checkout to time beside")
    parser.add_argument("--repeat", type=int, default=1, help="runs a side (medians shown)")
    args = parser.parse_args()
    path = make_csv(args.size_mib)
    size = path.stat().st_size
    loads = [os.getloadavg()[0]]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        sides: dict[str, Callable[[], Timing]] = {
            "md5 (DVC)": lambda: run([sys.executable, "-c", MD5, str(path)], folder),
            "pyarrow read_csv": lambda: run([sys.executable, "-c", PLAIN_READ, str(path)], folder),
            "mloop data add": lambda: mloop_add(path, folder),
        }
        if args.before:
            before = args.before.resolve() / "src"
            sides["mloop before"] = lambda: mloop_add(path, folder, before)
        sides["md5 (DVC)"]()  # the file into the page cache
        runs: dict[str, list[Timing]] = {name: [] for name in sides}
        for _ in range(max(args.repeat, 1)):
            for name, side in sides.items():
                runs[name].append(side())
                loads.append(os.getloadavg()[0])
    load = f"load {min(loads):.1f}-{max(loads):.1f}"
    print(f"file: {size / 2**20:.0f} MiB, {os.cpu_count()} cores, {load} (1-minute average)")
    results = {name: _median(timings) for name, timings in runs.items()}
    for name, (seconds, cpu, rss) in results.items():
        spread = ""
        if len(runs[name]) > 1:
            spread = "  (wall " + ", ".join(f"{t[0]:.2f}" for t in runs[name]) + " s)"
        print(
            f"{name:18s} {seconds:7.2f} s  {size / seconds / 2**30:5.2f} GiB/s  cpu {cpu:6.2f} s"
            f"  peak RSS {rss:7.0f} MiB{spread}"
        )
    add = results["mloop data add"][0]
    print(f"ratio mloop / pyarrow read: {add / results['pyarrow read_csv'][0]:.2f}x")
    print(f"ratio mloop / md5: {add / results['md5 (DVC)'][0]:.2f}x")
    if "mloop before" in results:
        print(f"ratio before / mloop: {results['mloop before'][0] / add:.2f}x")


def _median(timings: list[Timing]) -> Timing:
    """The median of each figure on its own."""
    return tuple(float(np.median([t[i] for t in timings])) for i in range(3))  # type: ignore[return-value]


if __name__ == "__main__":
    main()
