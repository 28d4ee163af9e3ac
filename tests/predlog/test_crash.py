"""SIGKILL a real process while it logs: acknowledged records survive up to the policy's window,
no segment is corrupt, and the next process to open the log recovers the dead writer's stream."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mloop.predlog import PredictionLog, read_log
from mloop.predlog.segments import iter_complete_batches

CHILD = Path(__file__).with_name("crash_child.py")


def _kill_while_logging(folder: Path, durability: str, *, run_s: float = 1.5) -> dict[str, float]:
    """Acknowledged request id -> when (child's monotonic clock) it was acknowledged."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), str(folder), durability],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    acked: dict[str, float] = {}
    try:
        assert child.stdout.readline().strip() == "ready"
        deadline = None  # run_s from the first acknowledgement, and at least 200 of them
        while deadline is None or time.monotonic() < deadline or len(acked) < 200:
            line = child.stdout.readline()
            if not line:
                break
            rid, stamp = line.split()
            acked[rid] = float(stamp)
            deadline = deadline or time.monotonic() + run_s
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    for line in rest.splitlines():  # printed before the kill, so acknowledged before it
        parts = line.split()
        if len(parts) == 2:
            acked[parts[0]] = float(parts[1])
    assert child.returncode == -signal.SIGKILL
    assert len(acked) > 100, "the child acknowledged too little to test anything"
    return acked


def _assert_no_corrupt_segment(folder: Path) -> None:
    for path in (folder / "churn").iterdir():
        if path.suffix == ".parquet":
            pq.read_table(path)  # raises on a torn file
        elif path.suffix == ".arrows":
            list(iter_complete_batches(path))
        elif path.suffix == ".tmp":  # a conversion the kill interrupted: never read
            assert path.name.endswith(".parquet." + path.name.split(".")[-2] + ".tmp")
        else:
            assert path.name.startswith("."), f"unexpected file {path.name}"


def _logged(folder: Path) -> list[str]:
    return read_log(folder, "churn").column("request_id").to_pylist()


def test_sigkill_under_always_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    folder = tmp_path / "predictions"
    acked = _kill_while_logging(folder, "always")
    _assert_no_corrupt_segment(folder)
    logged = _logged(folder)
    assert len(logged) == len(set(logged)), "a record was logged twice"
    missing = set(acked) - set(logged)
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:3]}"


def test_sigkill_under_everysec_loses_at_most_the_last_second(tmp_path: Path) -> None:
    folder = tmp_path / "predictions"
    acked = _kill_while_logging(folder, "everysec")
    _assert_no_corrupt_segment(folder)
    logged = set(_logged(folder))
    missing = [acked[rid] for rid in set(acked) - logged]
    last = max(acked.values())
    assert all(last - stamp <= 1.0 for stamp in missing), (
        f"{len(missing)} records lost, the oldest acknowledged {last - min(missing):.2f} s before the kill"
    )


@pytest.mark.parametrize("durability", ["always"])
def test_the_next_process_recovers_the_dead_writers_stream(tmp_path: Path, durability: str) -> None:
    folder = tmp_path / "predictions"
    _kill_while_logging(folder, durability, run_s=0.8)
    before = sorted(_logged(folder))
    assert list((folder / "churn").glob("*.arrows")), "the kill left no live stream to recover"
    with PredictionLog(folder):  # its compactor converts streams whose writer is gone
        pass
    assert not list((folder / "churn").glob("*.arrows"))
    assert not list((folder / "churn").glob("*.tmp"))
    assert sorted(_logged(folder)) == before
    assert not list((folder / ".writers").iterdir())
