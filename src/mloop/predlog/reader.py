"""Reading the log: one DuckDB view over an endpoint's Parquet files and live streams.

``connect`` gives a DuckDB connection with a view ``log`` (every record of the endpoint, columns
combined by name across segments); ``read_log`` and ``export_log`` are the two queries the CLI
and the server need. Files whose time range (in their names) lies outside the asked window are
never opened, and inside a file DuckDB skips row groups by their timestamp statistics, so the
newest hundred records of a 10⁷-record log cost a few files, not the whole log.

A compaction running in another thread or process may delete a file between listing and
reading; the query is then retried on a fresh listing (the records moved, they did not vanish).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from mloop.errors import InvalidInput, NotFound
from mloop.predlog.paths import endpoint_folder
from mloop.predlog.records import FIXED_COLUMNS, empty_table, unify_tables
from mloop.predlog.segments import read_stream, visible_files
from mloop.predlog.timespec import as_utc

ATTEMPTS = 3
T = TypeVar("T")
EXPORT_FORMATS = {".parquet": "parquet", ".csv": "csv"}


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ms(when: dt.datetime) -> int:
    return int(as_utc(when).timestamp() * 1000)


def log_folder(folder: str | os.PathLike[str], endpoint: str) -> Path:
    """The endpoint's log folder; ``NotFound`` when nothing was ever logged for it."""
    path = endpoint_folder(Path(folder), endpoint)
    if not path.is_dir():
        raise NotFound(
            f"No prediction log for endpoint {endpoint!r} in {folder} yet: it is written as "
            "`mloop serve` answers the endpoint's requests, so serve it and send traffic "
            "first, or check the name with `mloop endpoints ls`."
        )
    return path


def arrow_of(relation: Any) -> pa.Table:
    """A DuckDB relation as an Arrow table, whichever of the two method names this DuckDB has."""
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    table: pa.Table = fetch()
    return table


def connect(
    folder: str | os.PathLike[str],
    endpoint: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection whose view ``log`` holds ``endpoint``'s records.

    ``since``/``until`` only leave out files wholly outside the window; filter rows yourself.
    Timestamps come back in UTC.
    """
    path = log_folder(folder, endpoint)
    parquet, streams = visible_files(path)
    low = _ms(since) if since is not None else None
    high = _ms(until) if until is not None else None
    files = [
        str(f.path)
        for f in parquet
        if (low is None or f.max_ms >= low) and (high is None or f.min_ms <= high)
    ]
    live = []
    for stream in streams:
        table = read_stream(stream.path)
        if table is not None:
            live.append(table)
        elif not stream.path.exists():
            # converted to Parquet since the listing: list again rather than miss its records
            raise FileNotFoundError(stream.path)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    parts = []
    if files:
        listed = ", ".join(_sql_text(f) for f in files)
        parts.append(f"SELECT * FROM read_parquet([{listed}], union_by_name = true)")
    if live:
        con.register("live_segments", unify_tables(live))
        parts.append("SELECT * FROM live_segments")
    if not parts:
        con.register("no_segments", empty_table())
        parts.append("SELECT * FROM no_segments")
    con.execute("CREATE VIEW log AS " + " UNION ALL BY NAME ".join(parts))
    return con


def _where(
    since: dt.datetime | None, until: dt.datetime | None, role: str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append("timestamp >= ?")
        params.append(as_utc(since))
    if until is not None:
        clauses.append("timestamp < ?")
        params.append(as_utc(until))
    if role is not None:
        clauses.append("role = ?")
        params.append(role)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def _select(
    since: dt.datetime | None, until: dt.datetime | None, role: str | None, limit: int | None
) -> tuple[str, list[Any]]:
    """Rows in the window, oldest first; with ``limit``, the newest ``limit`` of them."""
    where, params = _where(since, until, role)
    if limit is not None:
        if limit < 0:
            raise InvalidInput(f"--limit must be 0 or more, not {limit}.")
        inner = f"SELECT * FROM log{where} ORDER BY timestamp DESC, prediction_id DESC LIMIT {int(limit)}"
        return f"SELECT * FROM ({inner}) ORDER BY timestamp, prediction_id", params
    return f"SELECT * FROM log{where} ORDER BY timestamp, prediction_id", params


def _with_fixed_columns(table: pa.Table) -> pa.Table:
    """Every fixed column and ``prediction`` present, even where no segment held a value."""
    for name, kind in [*FIXED_COLUMNS, ("prediction", pa.null())]:
        if name not in table.column_names:
            table = table.append_column(pa.field(name, kind), pa.nulls(table.num_rows, kind))
    return table


def retried(read: Callable[[], T], *, attempts: int = ATTEMPTS, pause_s: float = 0.0) -> T:
    """``read()``, run again (after ``pause_s`` times the attempt) when a compaction moved the
    log's files between listing and reading them; the last attempt's error is raised."""
    for attempt in range(attempts):
        try:
            return read()
        except (duckdb.IOException, FileNotFoundError):
            if attempt == attempts - 1:
                raise
            time.sleep(pause_s * (attempt + 1))
    raise AssertionError("unreachable")


def _retrying(
    folder: str | os.PathLike[str],
    endpoint: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    run: Any,
) -> Any:
    def once() -> Any:
        con = connect(folder, endpoint, since=since, until=until)
        try:
            return run(con)
        finally:
            con.close()

    return retried(once)


def read_log(
    folder: str | os.PathLike[str],
    endpoint: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    role: str | None = None,
    limit: int | None = None,
) -> pa.Table:
    """``endpoint``'s records with ``since <= timestamp < until`` (and ``role``), oldest first.

    With ``limit``: the newest ``limit`` of them, still oldest first. Columns: the fixed ones,
    ``prediction``, ``input.<column>`` and ``proba.<class>`` (see ``records``).
    """
    sql, params = _select(since, until, role, limit)
    table: pa.Table = _retrying(
        folder, endpoint, since, until, lambda con: arrow_of(con.sql(sql, params=params))
    )
    return _with_fixed_columns(table)


def export_log(
    folder: str | os.PathLike[str],
    endpoint: str,
    target: str | os.PathLike[str],
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    role: str | None = None,
    limit: int | None = None,
) -> int:
    """Write the selected records to ``target`` (.parquet or .csv), whole or not at all.

    DuckDB streams the rows to a temp file beside ``target`` (never all in memory), which is
    fsynced and renamed over it. Returns the number of records written.
    """
    target = Path(target)
    kind = EXPORT_FORMATS.get(target.suffix.lower())
    if kind is None:
        raise InvalidInput(f"Cannot export to {target.name!r}: name a .parquet or .csv file.")
    if not target.parent.is_dir():
        raise InvalidInput(f"Cannot export to {target}: folder {target.parent} does not exist.")
    sql, params = _select(since, until, role, limit)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    options = "FORMAT parquet, COMPRESSION zstd" if kind == "parquet" else "FORMAT csv, HEADER true"

    def run(con: duckdb.DuckDBPyConnection) -> int:
        row = con.execute(f"COPY ({sql}) TO {_sql_text(str(tmp))} ({options})", params).fetchone()
        return int(row[0]) if row else 0  # COPY answers with the number of rows it wrote

    try:
        count: int = _retrying(folder, endpoint, since, until, run)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return count
