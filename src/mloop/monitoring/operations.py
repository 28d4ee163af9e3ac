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
from collections.abc import Collection, Sequence
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


def _segment_sql(i: int, value: str, max_segments: int) -> tuple[str, str]:
    """Segment column ``i`` (``value``, a column of ``w``): the ``top<i>`` CTE of its most common
    values and the ``seg<i>`` label of a record; the rest are one ``(other)`` segment."""
    cte = (
        f"top{i} AS (SELECT {value} AS v FROM w WHERE role <> 'shadow' GROUP BY 1 "
        f"ORDER BY count(*) DESC, 1 LIMIT {int(max_segments)})"
    )
    label = (
        f"CASE WHEN w.status >= 400 AND w.status < 500 THEN '{REFUSED}' "
        f"WHEN w.{value} IS NULL THEN 'null' "
        f"WHEN w.{value} IN (SELECT v FROM top{i}) THEN CAST(w.{value} AS VARCHAR) "
        f"ELSE '{OTHER}' END AS seg{i}"
    )
    return cte, label


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
        cte, label = _segment_sql(i, _quote(INPUT_PREFIX + column), max_segments)
        seg_ctes.append(cte)
        seg_columns.append(label)
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
    nulls_only: Sequence[str] = (),
    source: str = "log",
) -> pa.Table:
    """Every column of the records clients were answered with in the window (no shadow records),
    plus ``segment.<column>`` holding each record's segment as ``measure`` names it.

    ``inputs_only``: just ``status`` and the ``input.*`` columns of the records answered
    (status < 400), which is what drift reads; ids and timestamps cost more to hand over than
    everything else together. ``source`` is the view to read: ``labelled`` (feedback's, with
    a ``label`` column) for KPIs. ``nulls_only``: input columns read as empty text where a value
    was logged (free text drift never compares: a million ids cost more than the rest together).
    """
    names = [row[0] for row in con.execute("DESCRIBE log").fetchall()]
    inputs = input_columns(con, segments)
    if inputs_only:
        blank = set(nulls_only)
        picked = ", ".join(
            [
                "status",
                *(
                    f"CASE WHEN {_quote(INPUT_PREFIX + c)} IS NOT NULL THEN '' END "
                    f"AS {_quote(INPUT_PREFIX + c)}"
                    if c in blank
                    else _quote(INPUT_PREFIX + c)
                    for c in inputs
                ),
            ]
        )
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


def _measured_sql(
    inputs: Sequence[str], segments: Sequence[str], max_segments: int, *, shadowed: bool
) -> tuple[str, str]:
    """The two queries of ``measure`` over one slim relation ``r`` of the window.

    The first counts per (model, version, role, segment values): every figure but the latency
    quantiles is a count, so the whole window, each segment and each version are sums of these
    few rows. The second takes the quantiles of each of those groupings. The window's input
    columns enter only as null flags: carrying a million ids through the grouping was most of
    the cost.
    """
    flags = [
        f"({_quote(INPUT_PREFIX + c)} IS NOT NULL AND status < 400) AS {_quote('n.' + c)}"
        for c in inputs
    ]
    raw = [f"{_quote(INPUT_PREFIX + c)} AS s{i}" for i, c in enumerate(segments)]
    ids = ", prediction_id, prediction" if shadowed else ""
    window = (
        "w AS (SELECT model, version, role, status, latency_ms, "
        # a request's first record: its id is the request id (one row) or REQUEST_ID:0
        "(prediction_id IS NULL OR prediction_id = request_id OR suffix(prediction_id, ':0')) "
        f"AS first{ids}{''.join(', ' + f for f in [*flags, *raw])} "
        "FROM log WHERE timestamp >= $start AND timestamp < $end)"
    )
    ctes = [window]
    labels = []
    for i in range(len(segments)):
        cte, label = _segment_sql(i, f"s{i}", max_segments)
        ctes.append(cte)
        labels.append(label)
    if shadowed:
        # a shadow record's own answer against the primary's; a served record disagrees when
        # any of its shadows did (one row each, however many shadow versions ran)
        ctes.append(
            "pairs AS (SELECT s.prediction_id, s.model, s.version, "
            "(s.prediction IS DISTINCT FROM p.prediction) AS disagree "
            "FROM w s JOIN w p ON p.prediction_id = s.prediction_id AND p.role <> 'shadow' "
            "WHERE s.role = 'shadow' AND s.status < 400 AND p.status < 400)"
        )
        ctes.append(
            "served_pairs AS (SELECT prediction_id, bool_or(disagree) AS disagree "
            "FROM pairs GROUP BY 1)"
        )
        joined = (
            "w LEFT JOIN served_pairs sp ON sp.prediction_id = w.prediction_id "
            "AND w.role <> 'shadow' LEFT JOIN pairs sh ON sh.prediction_id = w.prediction_id "
            "AND sh.model = w.model AND sh.version = w.version AND w.role = 'shadow'"
        )
        disagree = "CASE WHEN w.role = 'shadow' THEN sh.disagree ELSE sp.disagree END"
    else:
        joined, disagree = "w", "NULL::BOOLEAN"
    ctes.append(
        "r AS (SELECT w.model, w.version, w.role, w.status, w.latency_ms, w.first, "
        f"{disagree} AS disagree"
        + "".join(f", w.{_quote('n.' + c)}" for c in inputs)
        + "".join(", " + label for label in labels)
        + f" FROM {joined})"
    )
    keys = ["model", "version", "role", *(f"seg{i}" for i in range(len(segments)))]
    counts = ", ".join(
        [
            "count(*) AS predictions",
            "count(*) FILTER (WHERE first) AS requests",
            "count(*) FILTER (WHERE status >= 500) AS errors",
            "count(*) FILTER (WHERE status >= 400 AND status < 500) AS rejected",
            "count(*) FILTER (WHERE status < 400) AS accepted",
            "count(disagree) AS paired",
            "count(*) FILTER (WHERE disagree) AS disagreed",
            *(f"count(*) FILTER (WHERE {_quote('n.' + c)}) AS {_quote('n.' + c)}" for c in inputs),
        ]
    )
    head = "WITH " + ", ".join(ctes)
    by_group = f"{head} SELECT {', '.join(keys)}, {counts} FROM r GROUP BY ALL"
    seg_keys = keys[3:]
    sets = ", ".join(["()", *[f"({k})" for k in seg_keys]])
    which = (
        "CASE "
        + " ".join(f"WHEN grouping({k}) = 0 THEN {i}" for i, k in enumerate(seg_keys))
        + " ELSE -1 END"
        if seg_keys
        else "-1"
    )
    value = (
        "COALESCE(" + ", ".join(f"CASE WHEN grouping({k}) = 0 THEN {k} END" for k in seg_keys) + ")"
        if seg_keys
        else "NULL"
    )
    latency = "quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS latency"
    quantiles = (
        f"{head} SELECT {which} AS seg, {value} AS seg_value, NULL AS model, NULL AS version, "
        f"NULL AS role, {latency} FROM r WHERE role <> 'shadow' GROUP BY GROUPING SETS ({sets}) "
        "UNION ALL BY NAME "
        f"SELECT -2 AS seg, NULL AS seg_value, model, version, role, {latency} "
        "FROM r GROUP BY model, version, role"
    )
    return by_group, quantiles


def _sum(rows: Sequence[dict[str, Any]], names: Sequence[str]) -> dict[str, Any]:
    return {n: sum(int(row[n]) for row in rows) for n in names}


def measure(
    con: duckdb.DuckDBPyConnection,
    start: dt.datetime,
    end: dt.datetime,
    *,
    segments: Sequence[str] = (),
    max_segments: int = 20,
    features: Collection[str] | None = None,
) -> Operations:
    """The operations figures of the ``log`` view's records with ``start <= timestamp < end``.

    ``features``: the columns the models read; null rates are measured for those alone (a field
    a client sent that no model reads is logged, for segments, but is not a missing input).
    Raises ``InvalidInput`` when a segment column is not an input column of the window.
    """
    inputs = input_columns(con, segments)
    rated = inputs if features is None else [c for c in inputs if c in features]
    params = {"start": start, "end": end}
    found = con.execute(
        "SELECT count(*) FROM log WHERE timestamp >= $start AND timestamp < $end "
        "AND role = 'shadow'",
        params,
    ).fetchone()
    by_group, quantiles = _measured_sql(
        inputs, segments, max_segments, shadowed=bool(found and found[0])
    )
    rows = _records(con, by_group, params)
    latencies = {
        (q["seg"], q["seg_value"], q["model"], q["version"], q["role"]): q["latency"]
        for q in _records(con, quantiles, params)
    }
    counted = [
        "predictions",
        "requests",
        "errors",
        "rejected",
        "accepted",
        "paired",
        "disagreed",
        *("n." + c for c in inputs),
    ]
    served = [row for row in rows if row["role"] != "shadow"]
    figures: list[tuple[dict[str, Any], dict[str, Any], tuple[Any, ...], Sequence[str]]] = [
        ({}, _sum(served, counted), (-1, None, None, None, None), rated)
    ]
    for i, column in enumerate(segments):
        for value in sorted({row[f"seg{i}"] for row in served}):
            same = [row for row in served if row[f"seg{i}"] == value]
            figures.append(
                (
                    {"segment": f"{column}={value}"},
                    _sum(same, counted),
                    (i, value, None, None, None),
                    rated,
                )
            )
    for model, version, role in sorted(
        {(row["model"], row["version"], row["role"]) for row in rows},
        key=lambda k: tuple("" if v is None else str(v) for v in k),
    ):
        same = [r for r in rows if (r["model"], r["version"], r["role"]) == (model, version, role)]
        where = {"model": model, "version": version, "role": role}
        counts = _sum(same, counted)
        if role != "shadow":  # a version's disagreement is the shadow's own
            counts["paired"] = 0
        figures.append((where, counts, (-2, None, model, version, role), []))
    seconds = max((end - start).total_seconds(), 1e-9)
    points: list[Point] = []
    for where, counts, key, with_nulls in figures:
        if not counts["predictions"]:
            continue
        counts["latency"] = latencies.get(key)
        points += _points(counts, where, seconds, with_nulls)
    total = figures[0][1]["predictions"]
    if total == 0:
        points = [p for p in points if p.segment is None and p.model is None] or [
            Point("predictions", 0.0),
            Point("requests", 0.0),
            Point("throughput_rps", 0.0),
        ]
    return Operations(points=points, input_columns=inputs, records=total)


def _records(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    rows = con.execute(sql, params).fetchall()
    columns = [d[0] for d in con.description or []]
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _points(
    counts: dict[str, Any], where: dict[str, Any], seconds: float, inputs: Sequence[str]
) -> list[Point]:
    predictions = counts["predictions"]
    latency = counts["latency"] or [None, None, None]
    paired = counts["paired"]
    values: dict[str, float | None] = {
        "predictions": float(predictions),
        "requests": float(counts["requests"]),
        "throughput_rps": counts["requests"] / seconds,
        "error_rate": counts["errors"] / predictions,
        "rejection_rate": counts["rejected"] / predictions,
        "shadow_disagreement_rate": counts["disagreed"] / paired if paired else None,
    }
    for (name, _), quantile in zip(QUANTILES, latency, strict=True):
        values[name] = None if quantile is None else float(quantile)
    accepted = counts["accepted"]
    if inputs and accepted:
        rates = {c: 1.0 - counts["n." + c] / accepted for c in inputs}
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
