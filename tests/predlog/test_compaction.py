"""Compaction: small Parquet files merge into sorted bigger ones, and a crash mid-merge never shows
a record twice or loses one."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pyarrow.parquet as pq

from mloop.predlog import MergePolicy, PredictionLog, read_log
from mloop.predlog.compaction import merge_endpoint, plan_merges
from mloop.predlog.segments import ParquetFile, visible_files, write_intent
from tests.predlog.conftest import make_records

EAGER = MergePolicy(target_bytes=64 << 20, min_files=2, min_age_s=0)


def _small_files(folder: Path, batches: int = 4, per: int = 25) -> None:
    """``batches`` Parquet files, written newest first so a merge has to sort them."""
    for b in reversed(range(batches)):
        with PredictionLog(folder) as log:
            extra = {"inputs": {"tenure": "n/a", "region": "eu"}} if b == 1 else {}
            log.submit("churn", make_records(per, start=b * per, step_s=60, **extra))


def _uid(n: int) -> str:
    return f"{'a' * 16}-{n:06d}"


def test_plan_merges_groups_aged_small_files_up_to_the_target() -> None:
    files = [ParquetFile(Path(f"f{i}"), i * 1000, i * 1000 + 999, 0, _uid(i)) for i in range(10)]
    sizes = {f.path: 10 for f in files}
    sizes[files[4].path] = 1000  # big enough already: never rewritten
    policy = MergePolicy(target_bytes=45, min_files=3, min_age_s=5)
    groups = plan_merges(files, sizes, policy, now_ms=9_000 + 4_999)
    # f9 ends 5 s before now minus one ms: too young; f4 is too big; runs cap at 45 bytes
    assert [[f.path.name for f in g] for g in groups] == [
        ["f0", "f1", "f2", "f3"],
        ["f5", "f6", "f7", "f8"],
    ]
    assert plan_merges(files[:2], sizes, policy, now_ms=10**9) == []  # two files: not worth it yet


def test_merge_sorts_by_time_and_keeps_every_record(folder: Path) -> None:
    _small_files(folder)
    before = read_log(folder, "churn")
    assert len(visible_files(folder / "churn")[0]) == 4
    counter = iter(range(1, 100))
    assert merge_endpoint(folder / "churn", EAGER, lambda: _uid(next(counter))) == 1
    (merged,), streams = visible_files(folder / "churn")
    assert not streams and merged.level == 1
    assert sorted(p.name for p in (folder / "churn").iterdir()) == [
        ".compact.lock",
        merged.path.name,
    ]
    table = pq.read_table(merged.path)
    stamps = table.column("timestamp").to_pylist()
    assert stamps == sorted(stamps) and len(stamps) == 100
    after = read_log(folder, "churn")
    assert after.column("request_id").to_pylist() == before.column("request_id").to_pylist()
    # one segment had text in input.tenure: the merged column is text, nothing lost
    assert after.column("input.tenure").to_pylist()[25] == "n/a"
    assert after.column("input.tenure").to_pylist()[0] == "0"
    assert after.column("input.region").to_pylist()[25:27] == ["eu", "eu"]


def test_a_merge_interrupted_after_publishing_shows_each_record_once(
    folder: Path, tmp_path: Path
) -> None:
    _small_files(folder)
    saved = tmp_path / "saved"
    shutil.copytree(folder / "churn", saved)
    inputs = sorted(p.name for p in saved.glob("*.parquet"))
    merge_endpoint(folder / "churn", EAGER, lambda: _uid(7))
    (merged,), _ = visible_files(folder / "churn")
    # the crash: output renamed in place, inputs not yet deleted, intent still there
    for name in inputs:
        shutil.copy(saved / name, folder / "churn" / name)
    write_intent(folder / "churn" / f"{_uid(7)}.merge", merged.path.name, inputs)
    assert read_log(folder, "churn").num_rows == 100
    merge_endpoint(folder / "churn", EAGER, lambda: _uid(8))  # recovery finishes the deletes
    assert sorted(p.name for p in (folder / "churn").glob("*.parquet")) == [merged.path.name]
    assert not list((folder / "churn").glob("*.merge"))
    assert read_log(folder, "churn").num_rows == 100


def test_a_merge_interrupted_before_publishing_is_forgotten(folder: Path) -> None:
    _small_files(folder)
    inputs = sorted(p.name for p in (folder / "churn").glob("*.parquet"))
    missing_output = "0000000000001-0000000000002-L1-" + _uid(9) + ".parquet"
    write_intent(folder / "churn" / f"{_uid(9)}.merge", missing_output, inputs)
    (folder / "churn" / (missing_output + ".abcd1234.tmp")).write_bytes(b"PAR1 half")
    assert read_log(folder, "churn").num_rows == 100
    merge_endpoint(folder / "churn", EAGER, lambda: _uid(10))
    assert not list((folder / "churn").glob("*.merge"))
    assert read_log(folder, "churn").num_rows == 100


def test_the_compactor_thread_merges_as_segments_age(folder: Path) -> None:
    log = PredictionLog(folder, segment_bytes=4096, merge=EAGER, merge_every_s=0.2)
    try:
        for start in range(0, 400, 40):
            log.submit("churn", make_records(40, start=start))
            log.flush()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            parquet, _ = visible_files(folder / "churn")
            if any(f.level > 0 for f in parquet) and len(parquet) <= 2:
                break
            time.sleep(0.1)
        assert any(f.level > 0 for f in parquet), [f.path.name for f in parquet]
        assert read_log(folder, "churn").num_rows == 400
    finally:
        log.close()
    assert sorted(read_log(folder, "churn").column("request_id").to_pylist()) == sorted(
        f"req-{i}" for i in range(400)
    )
    assert log.stats()["compaction_errors"] == 0


def test_readers_never_see_a_record_twice_or_lose_one_while_compaction_runs(folder: Path) -> None:
    log = PredictionLog(folder, segment_bytes=8192, merge=EAGER, merge_every_s=0.05)
    seen: list[int] = []
    try:
        log.submit("churn", make_records(10)).result()
        log.flush()
        for start in range(10, 600, 10):
            log.submit("churn", make_records(10, start=start))
            if start % 50 == 0:
                log.flush()
                ids = read_log(folder, "churn").column("request_id").to_pylist()
                assert len(ids) == len(set(ids)), "a record read twice"
                assert len(ids) >= start + 10, "a flushed record missing"
                seen.append(len(ids))
    finally:
        log.close()
    assert seen == sorted(seen)
    assert read_log(folder, "churn").num_rows == 600
    assert any(f.level > 0 for f in visible_files(folder / "churn")[0])
