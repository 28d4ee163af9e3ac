"""Dataset snapshot hashing vs md5 (DVC's hash) and the plain read, on one file in the page cache.

    python benchmarks/hashing.py               # 1 GiB, median of 3
    python benchmarks/hashing.py --size-mib 8  # smoke run

Target (issue 2): mloop's snapshot hash at >= 80% of the plain-read speed and faster than md5.
Also prints the full blob write (copy, fsync, re-hash, rename) for honesty: that path is bound by
the disk, not the hash.

Then `mloop artifacts verify` (issue 13, target >= 0.8x the plain read) on a workspace holding the
file as one blob, and on one holding the same bytes as 1 MiB blobs: in-process (``verify_store``)
and through the CLI, whose start-up (the same command on an empty workspace: interpreter, imports,
opening the store) is shown and subtracted.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _common import measure

from mloop.artifacts import LocalArtifactStore
from mloop.artifacts.verify import verify_store
from mloop.hashing import hash_file
from mloop.workspace import Workspace

CHUNK = 8 << 20


def plain_read(path: Path) -> int:
    """The anchor's floor: ``f.read(8 MiB)`` into a new bytes object each time."""
    total = 0
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            total += len(chunk)
    return total


def plain_readinto(path: Path) -> int:
    """A stricter floor: ``readinto`` one reused buffer (no allocation, one copy)."""
    total = 0
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(view):
            total += n
    return total


def md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as f:
        while n := f.readinto(view):
            digest.update(view[:n])
    return digest.hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mloop-bench-") as tmp:
        path = Path(tmp) / "data.bin"
        block = os.urandom(1 << 20)
        with path.open("wb") as f:
            for _ in range(args.size_mib):
                f.write(block)
        size = path.stat().st_size
        plain_read(path)  # into the page cache

        rows = []
        for name, fn in (
            ("plain read (f.read, 8 MiB chunks)", lambda: plain_read(path)),
            ("plain readinto (reused 8 MiB buffer)", lambda: plain_readinto(path)),
            ("md5 (DVC)", lambda: md5(path)),
            ("mloop snapshot hash (BLAKE3 mmap, all cores)", lambda: hash_file(path)),
        ):
            timing = measure(fn, repeat=args.repeat)
            rows.append((name, size / timing.seconds / 1e9))
        store = LocalArtifactStore(Path(tmp) / "store")
        put = measure(lambda: store.put_file(path), repeat=1)
        if put.result.hash != hash_file(path):
            raise SystemExit("put_file stored different bytes")

    print(
        f"file: {size / 2**30:.2f} GiB in the page cache, median of {args.repeat}, {os.cpu_count()} cores"
    )
    print(f"{'method':48} {'GB/s':>8}")
    for name, rate in rows:
        print(f"{name:48} {rate:8.2f}")
    read_rate, readinto_rate, md5_rate, mloop_rate = (r for _, r in rows)
    print(f"{'mloop blob write (copy + fsync + hash + rename)':48} {size / put.seconds / 1e9:8.2f}")
    print(f"ratio mloop / plain read: {mloop_rate / read_rate:.2f} (target >= 0.80)")
    print(f"ratio mloop / readinto:   {mloop_rate / readinto_rate:.2f}")
    print(f"ratio mloop / md5:        {mloop_rate / md5_rate:.2f} (target > 1)")
    print()
    compare_verify(args.size_mib, args.repeat, md5_rate)


def _cli_verify(workspace: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "mloop", "--workspace", str(workspace), "artifacts", "verify"],
        check=True,
        capture_output=True,
    )


def _workspace(root: Path, blobs: list[Path]) -> Path:
    with Workspace.init(root, environ={})[0] as workspace:
        for blob in blobs:
            workspace.artifacts.put_file(blob)
    return root


def _in_process(root: Path) -> None:
    with Workspace.open(root, environ={}) as workspace:
        if not verify_store(workspace.store, workspace.artifacts).ok:
            raise SystemExit(f"verify found problems in {root}")


def compare_verify(size_mib: int, repeat: int, md5_rate: float) -> None:
    """`mloop artifacts verify` beside the plain read and md5, one large blob and many small ones.

    Every round times each row once, in turn, so a neighbour's load falls on all rows alike.
    """
    with tempfile.TemporaryDirectory(prefix="mloop-bench-verify-") as tmp:
        big = Path(tmp) / "snapshot.bin"
        parts = Path(tmp) / "parts"
        parts.mkdir()
        block = os.urandom(1 << 20)
        with big.open("wb") as f:
            for index in range(size_mib):
                f.write(block)
                # Each 1 MiB part differs, so they are stored as separate blobs.
                (parts / f"{index:06d}").write_bytes(index.to_bytes(8, "big") + block[8:])
        size = size_mib << 20
        empty = _workspace(Path(tmp) / "empty", [])
        one = _workspace(Path(tmp) / "one", [big])
        many = _workspace(Path(tmp) / "many", sorted(parts.iterdir()))
        rows: dict[str, Callable[[], object]] = {
            "plain read": lambda: plain_read(big),
            "BLAKE3 mmap, all cores": lambda: hash_file(big),
            "CLI start-up": lambda: _cli_verify(empty),
            "one blob, in-process": lambda: _in_process(one),
            "one blob, CLI": lambda: _cli_verify(one),
            "1 MiB blobs, in-process": lambda: _in_process(many),
            "1 MiB blobs, CLI": lambda: _cli_verify(many),
        }
        times: dict[str, list[float]] = {name: [] for name in rows}
        for _ in range(repeat):
            for name, fn in rows.items():
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
        median = {name: statistics.median(t) for name, t in times.items()}

    startup = median["CLI start-up"]
    read_rate = size / median["plain read"] / 1e9
    print(
        f"artifacts verify of {size / 2**30:.2f} GiB ({size_mib:,} MiB as one blob, and as "
        f"{size_mib:,} blobs of 1 MiB), rounds interleaved, median of {repeat}"
    )
    print(f"CLI start-up (verify of an empty workspace): {startup:.3f} s")
    print(f"{'row':34} {'seconds':>8} {'GB/s':>7} {'/ read':>7}  {'start-up subtracted':>20}")
    for name, seconds in median.items():
        if name == "CLI start-up":
            continue
        rate = size / seconds / 1e9
        line = f"{name:34} {seconds:8.3f} {rate:7.2f} {rate / read_rate:7.2f}"
        if name.endswith("CLI"):
            line += f"  {_net(size, seconds - startup, read_rate)}"
        print(line)
    for case in ("one blob", "1 MiB blobs"):
        inproc = size / median[f"{case}, in-process"] / 1e9
        net = _net(size, median[f"{case}, CLI"] - startup, read_rate)
        print(
            f"ratio verify / plain read, {case}: in-process {inproc / read_rate:.2f}; "
            f"CLI, start-up subtracted: {net} (target >= 0.80); verify / md5 {inproc / md5_rate:.1f}x"
        )


def _net(size: int, seconds: float, read_rate: float) -> str:
    """Rate and ratio to the read once start-up is subtracted; a toy size can drown in its noise."""
    if seconds <= 0.005:
        return "within start-up noise"
    rate = size / seconds / 1e9
    return f"{rate:.2f} GB/s, {rate / read_rate:.2f} of the read"


if __name__ == "__main__":
    main()
