"""The reader: windows, roles, newest-last limits, torn tails, DuckDB access and exports."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from mloop.errors import InvalidInput, NotFound
from mloop.predlog import PredictionLog, connect, export_log, parse_when, read_log
from tests.predlog.conftest import T0, make_records


@pytest.fixture
def filled(folder: Path) -> Path:
    """100 records a minute apart (50 sealed into Parquet, 50 in a live stream), every 5th a shadow."""
    records = make_records(100, step_s=60)
    for i, r in enumerate(records):
        if i % 5 == 0:
            r["role"] = "shadow"
            r["model"] = "churn-next"
    with PredictionLog(folder) as log:
        log.submit("churn", records[:50])
    log = PredictionLog(folder)
    log.submit("churn", records[50:])
    log.flush()
    yield folder
    log.close()


def test_window_role_and_limit(filled: Path) -> None:
    assert read_log(filled, "churn").num_rows == 100
    since = T0 + dt.timedelta(minutes=30)
    until = T0 + dt.timedelta(minutes=70)
    window = read_log(filled, "churn", since=since, until=until)
    assert window.column("request_id").to_pylist() == [f"req-{i}" for i in range(30, 70)]
    shadows = read_log(filled, "churn", role="shadow", since=since)
    assert shadows.column("request_id").to_pylist() == [f"req-{i}" for i in range(30, 100, 5)]
    newest = read_log(filled, "churn", limit=3)
    assert newest.column("request_id").to_pylist() == ["req-97", "req-98", "req-99"]  # newest last
    assert read_log(filled, "churn", limit=0).num_rows == 0


def test_duckdb_view_counts_by_model(filled: Path) -> None:
    con = connect(filled, "churn")
    rows = con.sql("SELECT model, count(*) FROM log GROUP BY model ORDER BY model").fetchall()
    assert rows == [("churn", 80), ("churn-next", 20)]
    ((mean,),) = con.sql('SELECT avg("input.tenure") FROM log').fetchall()
    assert mean == pytest.approx(sum(i % 72 for i in range(100)) / 100)


def test_a_torn_last_message_loses_only_that_batch(folder: Path, tmp_path: Path) -> None:
    """A process killed mid-write leaves half a message; the batches before it still read."""
    log = PredictionLog(folder)
    for start in range(0, 30, 10):
        log.submit("churn", make_records(10, start=start))
        log.flush()  # one batch per submit
    (stream,) = (folder / "churn").glob("*.arrows")
    data = stream.read_bytes()
    log.close()
    for cut in (1, 7, 100):
        copy = tmp_path / f"copy{cut}" / "churn"
        copy.mkdir(parents=True)
        (copy / stream.name).write_bytes(data[:-cut])
        table = read_log(copy.parent, "churn")
        assert table.column("request_id").to_pylist() == [f"req-{i}" for i in range(20)]
    empty = tmp_path / "empty" / "churn"
    empty.mkdir(parents=True)
    (empty / stream.name).write_bytes(data[:20])  # not even the schema is whole
    assert read_log(empty.parent, "churn").num_rows == 0


def test_a_stream_whose_parquet_exists_is_not_read_twice(filled: Path, tmp_path: Path) -> None:
    """A crash between publishing the Parquet file and deleting its stream leaves both."""
    copy = tmp_path / "copy"
    shutil.copytree(filled, copy)
    (stream,) = (copy / "churn").glob("*.arrows")
    (parquet,) = (copy / "churn").glob("*.parquet")
    uid = parquet.name.split("-L0-")[1].removesuffix(".parquet")
    stream.rename(stream.with_name(stream.name.split("-", 1)[0] + f"-{uid}.arrows"))
    assert read_log(copy, "churn").num_rows == 50
    with PredictionLog(copy):  # the next process deletes the dead writer's leftover stream
        pass
    assert not list((copy / "churn").glob("*.arrows"))
    assert read_log(copy, "churn").num_rows == 50


def test_unknown_and_unsafe_endpoints(filled: Path) -> None:
    with pytest.raises(NotFound, match="No prediction log for endpoint 'fraud'"):
        read_log(filled, "fraud")
    with pytest.raises(InvalidInput, match="not an endpoint name"):
        read_log(filled, "../predictions")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_export_writes_the_selection_whole(filled: Path, tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"out{suffix}"
    count = export_log(filled, "churn", target, role="shadow")
    assert count == 20
    table = pq.read_table(target) if suffix == ".parquet" else pacsv.read_csv(target)
    assert table.num_rows == 20
    assert set(table.column("role").to_pylist()) == {"shadow"}
    assert "input.tenure" in table.column_names
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_export_refuses_other_formats_and_missing_folders(filled: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"name a \.parquet or \.csv file"):
        export_log(filled, "churn", tmp_path / "out.xlsx")
    with pytest.raises(InvalidInput, match="does not exist"):
        export_log(filled, "churn", tmp_path / "nowhere" / "out.csv")


def test_parse_when() -> None:
    now = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert parse_when("10m", now=now) == now - dt.timedelta(minutes=10)
    assert parse_when("1.5h", now=now) == now - dt.timedelta(minutes=90)
    assert parse_when("7d", now=now) == now - dt.timedelta(days=7)
    assert parse_when("2026-02-01", now=now) == dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    assert parse_when("2026-02-01T10:00:00+02:00") == dt.datetime(2026, 2, 1, 8, tzinfo=dt.UTC)
    assert parse_when("2026-02-01T10:00:00Z") == dt.datetime(2026, 2, 1, 10, tzinfo=dt.UTC)
    with pytest.raises(InvalidInput, match="--since 'yesterday' is neither a duration"):
        parse_when("yesterday")
