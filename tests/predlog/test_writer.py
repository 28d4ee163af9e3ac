"""The writer: what goes in comes back out, typed, per endpoint; bounded, counted, closed cleanly."""

from __future__ import annotations

import math
import threading
from pathlib import Path

import pyarrow as pa
import pytest

from mloop.errors import InvalidInput, MloopError
from mloop.predlog import LogClosed, LogFull, PredictionLog, nested, read_log
from tests.predlog.conftest import T0, make_records


@pytest.mark.parametrize("durability", ["always", "everysec", "off"])
def test_records_round_trip_with_typed_columns(folder: Path, durability: str) -> None:
    records = make_records(20)
    with PredictionLog(folder, durability=durability) as log:
        assert log.submit("churn", records[:12]).result(5) == 12
        assert log.submit("churn", records[12:]).result(5) == 8
        log.flush()
        live = read_log(folder, "churn")
    closed = read_log(folder, "churn")
    for table in (live, closed):
        assert table.num_rows == 20
        assert table.column("request_id").to_pylist() == [f"req-{i}" for i in range(20)]
        assert table.schema.field("timestamp").type == pa.timestamp("us", tz="UTC")
        assert table.schema.field("input.tenure").type == pa.int64()
        assert table.schema.field("input.plan").type == pa.string()
        assert table.schema.field("input.charges").type == pa.float64()
        assert table.schema.field("proba.yes").type == pa.float64()
        assert table.schema.field("revision").type == pa.int64()
    first = nested(closed.slice(0, 1).to_pylist()[0])
    expected = dict(records[0])
    assert first == expected


def test_future_resolves_once_the_records_are_on_disk_under_always(folder: Path) -> None:
    with PredictionLog(folder, durability="always") as log:
        for start in range(0, 30, 10):
            log.submit("churn", make_records(10, start=start)).result(5)
            # acknowledged means readable by another reader now, with no flush
            assert read_log(folder, "churn").num_rows == start + 10
        stats = log.stats()["endpoints"]["churn"]
        assert stats["fsyncs"] >= 3


def test_concurrent_always_submits_share_fsyncs(folder: Path) -> None:
    """Group commit: one fsync acknowledges every request queued while the last one ran."""
    with PredictionLog(folder, durability="always") as log:

        def client(n: int) -> None:
            for i in range(40):
                log.submit("churn", make_records(1, start=n * 1000 + i)).result(10)

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = log.stats()["endpoints"]["churn"]
    assert stats["written"] == 320
    assert stats["fsyncs"] < 320
    assert read_log(folder, "churn").num_rows == 320


def test_a_new_input_column_or_type_starts_a_new_segment_and_reads_back_by_name(
    folder: Path,
) -> None:
    with PredictionLog(folder) as log:
        log.submit("churn", make_records(3))
        log.submit("churn", make_records(2, start=3, inputs={"tenure": 5, "region": "eu"}))
        log.submit("churn", make_records(2, start=5, inputs={"tenure": "unknown"}))
        log.submit("churn", make_records(1, start=7, inputs={}))  # optional fields missing
    table = read_log(folder, "churn")
    assert table.num_rows == 8
    assert table.column("input.region").to_pylist() == [None] * 3 + ["eu", "eu"] + [None] * 3
    # int and text in one column across segments read back as text, not as an error
    assert table.column("input.tenure").to_pylist()[3:7] == ["5", "5", "unknown", "unknown"]


def test_values_keep_their_meaning(folder: Path) -> None:
    odd = [
        {"x": float("nan"), "mixed": 1, "nested": [1, 2], "flag": True},
        {"x": float("inf"), "mixed": "a", "nested": {"k": 1}, "flag": None},
    ]
    with PredictionLog(folder) as log:
        log.submit(
            "churn",
            [dict(r, inputs=i) for r, i in zip(make_records(2), odd, strict=True)],
        )
    rows = read_log(folder, "churn").to_pylist()
    assert math.isnan(rows[0]["input.x"]) and rows[1]["input.x"] == math.inf
    assert [r["input.mixed"] for r in rows] == ["1", "a"]  # no common type: text
    assert [r["input.nested"] for r in rows] == ["[1,2]", '{"k":1}']
    assert [r["input.flag"] for r in rows] == [True, None]


def test_refused_inputs_do_not_change_a_feature_columns_type(folder: Path) -> None:
    """A 422 for `tenure: "x"` keeps that request's inputs as JSON text; the column stays int."""
    with PredictionLog(folder) as log:
        log.submit("churn", make_records(2))
        log.flush()  # its own batch and segment first
        log.submit(
            "churn",
            make_records(1, start=2, status=422, inputs={"tenure": "x"}, prediction=None)
            + make_records(1, start=3),
        )
    table = read_log(folder, "churn")
    assert table.schema.field("input.tenure").type == pa.int64()
    assert table.column("input.tenure").to_pylist() == [0, 1, None, 3]
    rows = [nested(r) for r in table.to_pylist()]
    assert rows[2]["inputs"] == {"tenure": "x"}
    assert rows[3]["inputs"] == {"tenure": 3, "plan": "pro", "charges": 23.5}


def test_error_records_have_no_prediction(folder: Path) -> None:
    with PredictionLog(folder) as log:
        log.submit(
            "churn",
            make_records(2, status=500, prediction=None, probabilities=None, error="boom"),
        )
    table = read_log(folder, "churn")
    assert table.column("prediction").to_pylist() == [None, None]
    assert table.column("error").to_pylist() == ["boom", "boom"]
    assert table.column("status").to_pylist() == [500, 500]


def test_a_record_that_cannot_be_stored_fails_alone(folder: Path) -> None:
    """A wrongly typed fixed field fails its own submit (counted, its future raises), not the
    records queued with it."""
    with PredictionLog(folder, durability="always") as log:
        futures = [
            log.submit("churn", make_records(2)),
            log.submit("churn", make_records(1, start=2, revision="three")),
            log.submit("churn", make_records(2, start=3, inputs={"blob": b"\x00\xff"})),
        ]
        assert futures[0].result(10) == 2
        with pytest.raises(MloopError, match="could not write 1 record"):
            futures[1].result(10)
        assert futures[2].result(10) == 2
        stats = log.stats()
    assert (stats["written"], stats["failed"]) == (4, 1)
    table = read_log(folder, "churn")
    assert table.column("request_id").to_pylist() == ["req-0", "req-1", "req-3", "req-4"]
    assert all("x00" in v for v in table.column("input.blob").to_pylist()[2:])  # bytes as text


def test_bad_records_and_names_are_refused_at_submit(plog: PredictionLog, folder: Path) -> None:
    with pytest.raises(InvalidInput, match="unknown keys \\['inptus'\\]"):
        plog.submit("churn", [{"inptus": {}}])
    with pytest.raises(InvalidInput, match="role 'blue'"):
        plog.submit("churn", make_records(1, role="blue"))
    for name in ("../escape", ".hidden", "a/b", "", "x" * 200):
        with pytest.raises(InvalidInput, match="not an endpoint name"):
            plog.submit(name, make_records(1))
    with pytest.raises(InvalidInput, match="durability 'sometimes'"):
        plog.submit("churn", make_records(1), durability="sometimes")
    plog.flush()
    assert not (folder.parent / "escape").exists()
    assert plog.stats()["written"] == 0


def test_endpoints_are_kept_apart_with_their_own_counts(folder: Path) -> None:
    with PredictionLog(folder, durability="off") as log:
        log.set_durability("fraud", "always")
        log.submit("churn", make_records(5)).result()
        log.submit("fraud", make_records(3, endpoint="fraud")).result(5)
        log.flush()
        stats = log.stats()
    assert stats["endpoints"]["churn"]["written"] == 5
    assert stats["endpoints"]["fraud"] == {
        "queue_depth": 0,
        "written": 3,
        "dropped": 0,
        "failed": 0,
        "fsyncs": stats["endpoints"]["fraud"]["fsyncs"],
        "durability": "always",
    }
    assert stats["endpoints"]["churn"]["durability"] == "off"
    assert (stats["written"], stats["dropped"], stats["queue_depth"]) == (8, 0, 0)
    assert read_log(folder, "fraud").column("endpoint").to_pylist() == ["fraud"] * 3


def _stall_writer(log: PredictionLog) -> None:
    """Keep the writer busy with one large batch (it takes the whole batch at once), then fill
    the queue to its bound behind it."""
    wide = {f"f{i}": i * 1.5 for i in range(20)}
    log.submit("churn", make_records(60_000, inputs=wide), durability="everysec")
    # enters once the writer took the first (waiting, so not dropped even when the log is `off`)
    log.submit("churn", make_records(log.max_queue), durability="everysec", timeout=30)


@pytest.mark.parametrize("durability", ["always", "everysec"])
def test_full_queue_waits_then_refuses_and_never_drops(folder: Path, durability: str) -> None:
    with PredictionLog(folder, durability=durability, max_queue=10, block_s=0.01) as log:
        _stall_writer(log)
        with pytest.raises(LogFull, match=r"full \(10 records queued, at most 10,"):
            log.submit("churn", make_records(1, start=99))
        log.flush()
        stats = log.stats()
    assert (stats["written"], stats["dropped"]) == (60_010, 0)
    assert read_log(folder, "churn").num_rows == 60_010


def test_everysec_refuses_when_the_writer_falls_behind_in_time(folder: Path) -> None:
    """An everysec record is acknowledged when queued; a stalled writer must slow producers down
    before a crash could lose more than the policy's window."""
    with PredictionLog(folder, max_queue=1_000_000, max_lag_s=0.0, block_s=0.01) as log:
        wide = {f"f{i}": i * 1.5 for i in range(20)}
        log.submit("churn", make_records(60_000, inputs=wide))  # the writer needs >0.1 s for it
        with pytest.raises(LogFull, match="the oldest for"):
            log.submit("churn", make_records(1, start=99))
        assert log.submit("churn", make_records(1, start=99), durability="always").result(30) == 1


def test_full_queue_drops_and_counts_under_off(folder: Path) -> None:
    with PredictionLog(folder, durability="off", max_queue=10) as log:
        _stall_writer(log)
        assert log.submit("churn", make_records(3, start=99)).result() == 0
        log.flush()
        stats = log.stats()
    assert (stats["written"], stats["dropped"]) == (60_010, 3)
    assert stats["endpoints"]["churn"]["dropped"] == 3


def test_close_seals_into_parquet_and_refuses_later_submits(folder: Path) -> None:
    log = PredictionLog(folder)
    log.submit("churn", make_records(4))
    log.close()
    log.close()  # idempotent
    names = sorted(p.name for p in (folder / "churn").iterdir())
    assert names and all(n.endswith(".parquet") for n in names), names
    assert read_log(folder, "churn").num_rows == 4
    with pytest.raises(LogClosed):
        log.submit("churn", make_records(1))


def test_timestamps_default_to_now(plog: PredictionLog, folder: Path) -> None:
    record = make_records(1)[0]
    del record["timestamp"]
    plog.submit("churn", [record])
    plog.flush()
    stamp = read_log(folder, "churn").column("timestamp")[0].as_py()
    assert stamp > T0
