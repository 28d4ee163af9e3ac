"""Operations figures of a log window, in one DuckDB query: latency, error, rejection and
shadow-disagreement rates, throughput and input null rates, per model version and per segment.

Definitions (docs/monitoring.md has the table):

- every figure counts **predictions** (log records): a request of n rows counts n times, so a
  segment (the rows whose input ``contract`` is ``two-year``) is well defined; ``requests`` and
  ``throughput_rps`` count distinct request ids;
- ``latency_p50_ms``/``p95``/``p99``: linear-interpolated quantiles of ``latency_ms`` (the
  request's time in the server, which each of its rows carries);
- ``error_rate``: share of records answered 5xx; ``rejection_rate``: 4xx (bad input, overload);
- ``shadow_disagreement_rate``: among served predictions that have a shadow prediction (same
  prediction id), the share whose predictions differ; per version it is the shadow version's;
- ``null_rate.COLUMN``: share of records answered (status < 400) whose input is missing;
  ``null_rate`` is the worst column's.

A segment column keeps its ``max_segments`` most common values, the rest fall in ``(other)``;
a refused request's inputs are not columns (see ``predlog.records``), so it is ``(refused)``.

The whole window and its segments count what clients were answered (primary and canary records);
the per-version figures count each role's own records, the shadow's included.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from mloop.errors import InvalidInput
from mloop.predlog.reader import arrow_of
from mloop.predlog.records import INPUT_PREFIX

OTHER = "(other)"
REFUSED = "(refused)"  # a 4xx record's inputs are kept as text, not as columns
QUANTILES = (("latency_p50_ms", 0.5), ("latency_p95_ms", 0.95), ("latency_p99_ms", 0.99))


@dataclass(frozen=True)
class Point:
    """One measured figure: the whole window's, one segment's (``column=value``) or one version's."""

    metric: str
    value: float | None
    segment: str | None = None
    model: str | None = None
    version: int | None = None
    role: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "value": self.value,
            "segment": self.segment,
            "model": None if self.model is None else f"{self.model}@{self.version}",
            "role": self.role,
        }


@dataclass(frozen=True)
class Operations:
    points: list[Point]
    input_columns: list[str]
    records: int


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _figures(with_nulls: Sequence[str]) -> str:
    """The aggregates every group computes, over rows ``r`` of the window."""
    parts = [
        "count(*) AS predictions",
        # a request's first record: its id is the request id (one row) or REQUEST_ID:0
        "count(*) FILTER (WHERE r.prediction_id IS NULL OR r.prediction_id = r.request_id "
        "OR suffix(r.prediction_id, ':0')) AS requests",
        "quantile_cont(r.latency_ms, [0.5, 0.95, 0.99]) AS latency",
        "avg(CASE WHEN r.status >= 500 THEN 1.0 ELSE 0.0 END) AS error_rate",
        "avg(CASE WHEN r.status >= 400 AND r.status < 500 THEN 1.0 ELSE 0.0 END) AS rejection_rate",
        "avg(r.disagree::DOUBLE) AS shadow_disagreement_rate",
        "count(*) FILTER (WHERE r.status < 400) AS accepted",
    ]
    parts += [
        f"count(r.{_quote(INPUT_PREFIX + c)}) FILTER (WHERE r.status < 400) AS {_quote('n.' + c)}"
        for c in with_nulls
    ]
    return ", ".join(parts)


def _window_sql(
    names: Sequence[str],
    inputs: Sequence[str],
    segments: Sequence[str],
    max_segments: int,
    *,
    every_column: bool = False,
    source: str = "log",
) -> tuple[str, list[str], list[str]]:
    """The window's CTE ``w``, one ``top<i>`` CTE per segment column, and ``seg<i>`` columns.

    Each segment column keeps its most common values; the rest are one ``(other)`` segment.
    """
    prediction = "prediction" if "prediction" in names else "NULL"
    keep = [_quote(INPUT_PREFIX + c) for c in inputs]
    seg_ctes = []
    seg_columns = []
    for i, column in enumerate(segments):
        value = _quote(INPUT_PREFIX + column)
        seg_ctes.append(
            f"top{i} AS (SELECT {value} AS v FROM w WHERE role <> 'shadow' GROUP BY 1 "
            f"ORDER BY count(*) DESC, 1 LIMIT {int(max_segments)})"
        )
        seg_columns.append(
            f"CASE WHEN w.status >= 400 AND w.status < 500 THEN '{REFUSED}' "
            f"WHEN w.{value} IS NULL THEN 'null' "
            f"WHEN w.{value} IN (SELECT v FROM top{i}) THEN CAST(w.{value} AS VARCHAR) "
            f"ELSE '{OTHER}' END AS seg{i}"
        )
    picked = (
        "*"
        if every_column
        else "timestamp, request_id, prediction_id, model, version, role, status, latency_ms, "
        f"{prediction} AS prediction{''.join(', ' + k for k in keep)}"
    )
    window = f"w AS (SELECT {picked} FROM {source} WHERE timestamp >= $start AND timestamp < $end)"
    return window, seg_ctes, seg_columns


def input_columns(con: duckdb.DuckDBPyConnection, segments: Sequence[str] = ()) -> list[str]:
    """The input columns of the ``log`` view; ``InvalidInput`` when a segment column is not one."""
    names = [row[0] for row in con.execute("DESCRIBE log").fetchall()]
    inputs = [n[len(INPUT_PREFIX) :] for n in names if n.startswith(INPUT_PREFIX)]
    missing = [s for s in segments if s not in inputs]
    if missing:
        known = ", ".join(inputs[:20]) or "none (nothing was logged with inputs)"
        raise InvalidInput(
            f"Segment column {missing[0]!r} is not an input of the logged requests; "
            f"segments name input columns: {known}."
        )
    return inputs


def served_window(
    con: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    *,
    segments: Sequence[str] = (),
    max_segments: int = 20,
    inputs_only: bool = False,
    source: str = "log",
) -> pa.Table:
    """Every column of the records clients were answered with in the window (no shadow records),
    plus ``segment.<column>`` holding each record's segment as ``measure`` names it.

    ``inputs_only``: just ``status`` and the ``input.*`` columns of the records answered
    (status < 400), which is what drift reads; ids and timestamps cost more to hand over than
    everything else together. ``source`` is the view to read: ``labelled`` (feedback's, with
    a ``label`` column) for KPIs.
    """
    names = [row[0] for row in con.execute("DESCRIBE log").fetchall()]
    inputs = input_columns(con, segments)
    if inputs_only:
        picked = ", ".join(["status", *(_quote(INPUT_PREFIX + c) for c in inputs)])
        relation: Any = con.sql(
            f"SELECT {picked} FROM log WHERE timestamp >= $start AND timestamp < $end "
            "AND role <> 'shadow' AND status < 400",
            params={"start": start, "end": end},
        )
        return arrow_of(relation)
    window, seg_ctes, seg_columns = _window_sql(
        names, inputs, segments, max_segments, every_column=True, source=source
    )
    labels = "".join(
        ", " + c.rsplit(" AS ", 1)[0] + " AS " + _quote("segment." + s)
        for c, s in zip(seg_columns, segments, strict=True)
    )
    sql = (
        "WITH "
        + ", ".join([window, *seg_ctes])
        + f" SELECT w.*{labels} FROM w WHERE w.role <> 'shadow'"
    )
    return arrow_of(con.sql(sql, params={"start": start, "end": end}))


def measure(
    con: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    *,
    segments: Sequence[str] = (),
    max_segments: int = 20,
) -> Operations:
    """The operations figures of the ``log`` view's records with ``start <= timestamp < end``.

    Raises ``InvalidInput`` when a segment column is not an input column of the window.
    """
    names = [row[0] for row in con.execute("DESCRIBE log").fetchall()]
    inputs = input_columns(con, segments)
    window, seg_ctes, seg_columns = _window_sql(names, inputs, segments, max_segments)
    window = window.replace("w AS (", "w AS MATERIALIZED (", 1)
    found = con.execute(
        "SELECT count(*) FROM log WHERE timestamp >= $start AND timestamp < $end "
        "AND role = 'shadow'",
        {"start": start, "end": end},
    ).fetchone()
    shadowed = bool(found and found[0])
    shadow = (
        "pairs AS (SELECT s.prediction_id, s.model, s.version, "
        "(s.prediction IS DISTINCT FROM p.prediction) AS disagree "
        "FROM w s JOIN w p ON p.prediction_id = s.prediction_id AND p.role <> 'shadow' "
        "WHERE s.role = 'shadow' AND s.status < 400 AND p.status < 400)"
    )
    if shadowed:
        served = (
            "served AS (SELECT w.*, pairs.disagree"
            + "".join(", " + c for c in seg_columns)
            + " FROM w LEFT JOIN pairs ON pairs.prediction_id = w.prediction_id "
            "WHERE w.role <> 'shadow')"
        )
        tagged = (
            "tagged AS (SELECT w.*, CASE WHEN w.role = 'shadow' THEN pairs.disagree END "
            "AS disagree FROM w LEFT JOIN pairs ON pairs.prediction_id = w.prediction_id "
            "AND w.role = 'shadow')"
        )
    else:  # no shadow in the window: no join to pay for
        served = (
            "served AS (SELECT w.*, NULL::BOOLEAN AS disagree"
            + "".join(", " + c for c in seg_columns)
            + " FROM w WHERE w.role <> 'shadow')"
        )
        tagged = "tagged AS (SELECT w.*, NULL::BOOLEAN AS disagree FROM w)"
    seg_keys = [f"seg{i}" for i in range(len(segments))]
    sets = ", ".join(["()", *[f"({k})" for k in seg_keys]])
    which = (
        "CASE "
        + " ".join(f"WHEN grouping(seg{i}) = 0 THEN {i}" for i in range(len(segments)))
        + " ELSE -1 END"
        if segments
        else "-1"
    )
    value = (
        "COALESCE(" + ", ".join(f"CASE WHEN grouping({k}) = 0 THEN {k} END" for k in seg_keys) + ")"
        if segments
        else "NULL"
    )
    nulls = _figures(inputs)
    sql = (
        "WITH "
        + ", ".join([window, *seg_ctes, *([shadow] if shadowed else []), served, tagged])
        + f" SELECT {which} AS seg, {value} AS seg_value, NULL AS model, NULL AS version, "
        f"NULL AS role, {nulls} FROM served r GROUP BY GROUPING SETS ({sets}) "
        "UNION ALL BY NAME "
        f"SELECT -2 AS seg, NULL AS seg_value, r.model, r.version, r.role, {_figures([])} "
        "FROM tagged r GROUP BY r.model, r.version, r.role"
    )
    rows = con.execute(sql, {"start": start, "end": end}).fetchall()
    columns = [d[0] for d in con.description or []]
    seconds = max((end - start).total_seconds(), 1e-9)
    points: list[Point] = []
    total = 0
    for row in rows:
        record = dict(zip(columns, row, strict=True))
        seg = record["seg"]
        if seg == -2:
            where: dict[str, Any] = {
                "model": record["model"],
                "version": record["version"],
                "role": record["role"],
            }
        elif seg == -1:
            where = {}
            total = int(record["predictions"])
        else:
            where = {"segment": f"{segments[seg]}={record['seg_value']}"}
        points += _points(record, where, seconds, inputs if seg != -2 else [])
    if total == 0:
        points = [p for p in points if p.segment is None and p.model is None] or [
            Point("predictions", 0.0),
            Point("requests", 0.0),
            Point("throughput_rps", 0.0),
        ]
    return Operations(points=points, input_columns=inputs, records=total)


def _points(
    record: dict[str, Any], where: dict[str, Any], seconds: float, inputs: Sequence[str]
) -> list[Point]:
    def num(value: Any) -> float | None:
        return None if value is None else float(value)

    latency = record["latency"] or [None, None, None]
    values: dict[str, float | None] = {
        "predictions": float(record["predictions"]),
        "requests": float(record["requests"]),
        "throughput_rps": record["requests"] / seconds,
        "error_rate": num(record["error_rate"]),
        "rejection_rate": num(record["rejection_rate"]),
        "shadow_disagreement_rate": num(record["shadow_disagreement_rate"]),
    }
    for (name, _), quantile in zip(QUANTILES, latency, strict=True):
        values[name] = num(quantile)
    accepted = record["accepted"]
    if inputs and accepted:
        rates = {c: 1.0 - record["n." + c] / accepted for c in inputs}
        values["null_rate"] = max(rates.values())
        values.update({f"null_rate.{c}": rate for c, rate in rates.items()})
    return [Point(metric, value, **where) for metric, value in values.items()]


def answered_predictions(
    con: duckdb.DuckDBPyConnection, start: dt.datetime, end: dt.datetime
) -> pa.Table:
    """``status``, ``prediction`` and ``proba.*`` of the served records in the window."""
    names = [row[0] for row in con.execute("DESCRIBE log").fetchall()]
    wanted = ["status", *[n for n in names if n == "prediction" or n.startswith("proba.")]]
    sql = (
        f"SELECT {', '.join(_quote(n) for n in wanted)} FROM log WHERE timestamp >= $start "
        "AND timestamp < $end AND role <> 'shadow' AND status < 400"
    )
    return arrow_of(con.sql(sql, params={"start": start, "end": end}))
