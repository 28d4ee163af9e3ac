"""What the log says about a candidate and its champion since a rollout started.

Every figure comes from the monitoring services, over the endpoint's prediction log from the
rollout's start to now:

- ``requests``, ``error_rate``, ``rejection_rate``, ``latency_p50/95/99_ms``: ``operations.measure``'s
  per-version figures, the candidate's in its role (canary or shadow), the champion's as primary.
  A canary that raised on a request is logged as a canary record with status 500 (the champion
  answered the client), so ``error_rate`` counts it against the candidate.
- ``prediction_drift``: the candidate's predictions and class probabilities against the
  champion's over the same window (``drift.prediction_drift``): the share of those columns that
  drifted. Under a canary the two saw different requests drawn from the same traffic; under a
  shadow, the same requests.
- ``realised.METRIC`` on the candidate's labelled predictions once ``MIN_LABELS`` labels came
  back (``performance``); with fewer, the CBPE estimate ``estimated.METRIC`` stands in for it
  (said in the notes), and without probabilities to estimate from there is no figure.
- ``estimated.METRIC``: CBPE from the candidate's logged probabilities.

A figure that could not be measured is None (no data), never zero: no data is never a pass.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from mloop.artifacts import ArtifactStore
from mloop.errors import InvalidInput, NotFound
from mloop.monitoring.drift import prediction_drift
from mloop.monitoring.operations import measure
from mloop.monitoring.performance import GroupPerformance, performance
from mloop.predlog import connect
from mloop.predlog.reader import arrow_of
from mloop.predlog.records import PROBA_PREFIX
from mloop.registry.gate_config import Threshold
from mloop.store import Store

ATTEMPTS = 3  # reads of the log, when a compaction moves files under one
MIN_LABELS = 30  # labelled candidate predictions before realised.METRIC is believed
OPERATIONS = (
    "requests",
    "predictions",
    "error_rate",
    "rejection_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
)


@dataclass(frozen=True)
class Side:
    """One model version in one role of the endpoint: whose records to read."""

    model: str
    version: int
    role: str

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass
class Measured:
    """The candidate's and the champion's figures (None: not measured) and why some are missing."""

    candidate: dict[str, float | None] = field(default_factory=dict)
    champion: dict[str, float | None] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return int(self.candidate.get("requests") or 0)

    @property
    def records(self) -> int:
        return int(self.candidate.get("predictions") or 0)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _predictions(
    con: duckdb.DuckDBPyConnection, side: Side, start: dt.datetime, end: dt.datetime
) -> pa.Table:
    """``prediction`` and ``proba.*`` of the side's answered records in the window."""
    names = [row[0] for row in con.execute("DESCRIBE log").fetchall()]
    wanted = [n for n in names if n == "prediction" or n.startswith(PROBA_PREFIX)]
    if "prediction" not in wanted:
        return pa.table({})
    sql = (
        f"SELECT {', '.join(_quote(n) for n in wanted)} FROM log WHERE timestamp >= $start "
        "AND timestamp < $end AND role = $role AND model = $model AND version = $version "
        "AND status < 400 AND prediction IS NOT NULL"
    )
    params = {
        "start": start,
        "end": end,
        "role": side.role,
        "model": side.model,
        "version": side.version,
    }
    return arrow_of(con.sql(sql, params=params))


def _drift(champion: pa.Table, candidate: pa.Table, notes: list[str]) -> float | None:
    if champion.num_rows == 0 or candidate.num_rows == 0:
        notes.append("prediction_drift not measured: no answered predictions on one side yet")
        return None
    # a column one side never filled (a model without probabilities) says nothing about drift
    columns = [
        name
        for name in champion.column_names
        if name in candidate.column_names
        and champion.column(name).null_count < champion.num_rows
        and candidate.column(name).null_count < candidate.num_rows
    ]
    if "prediction" not in columns:
        notes.append("prediction_drift not measured: no predictions to compare")
        return None
    try:
        report = prediction_drift(
            champion.select(columns),
            candidate.select(columns),
            reference_label="champion",
            current_label="candidate",
        )
    except InvalidInput as exc:
        notes.append(f"prediction_drift not measured: {exc.message}")
        return None
    return float(report.drift_share)


def _group(groups: tuple[GroupPerformance, ...], side: Side) -> GroupPerformance | None:
    found = [
        g
        for g in groups
        if g.segment is None
        and (g.model, g.version, g.role) == (side.model, side.version, side.role)
    ]
    return found[0] if found else None


def _performance(
    store: Store,
    artifacts: ArtifactStore,
    folder: Path,
    endpoint: str,
    sides: tuple[Side, Side],
    wanted: set[str],
    start: dt.datetime,
    end: dt.datetime,
    found: Measured,
) -> None:
    try:
        report = performance(store, artifacts, folder, endpoint, since=start, until=end)
    except (NotFound, InvalidInput) as exc:
        found.notes.append(f"performance not measured: {exc.message}")
        return
    for side, into in zip(sides, (found.candidate, found.champion), strict=True):
        group = _group(report.groups, side)
        into["labelled"] = None if group is None else float(group.labelled)
        for metric in wanted:
            kind, _, name = metric.partition(".")
            estimate = None if group is None else group.estimated.get(name)
            if kind == "estimated":
                into[metric] = estimate
                continue
            labelled = 0 if group is None else group.labelled
            if group is not None and labelled >= MIN_LABELS:
                into[metric] = group.realised.get(name)
            elif estimate is not None:
                into[metric] = estimate
                if into is found.candidate:
                    found.notes.append(
                        f"{metric}: {labelled} of {MIN_LABELS} labels needed came back, so the "
                        f"CBPE estimate {estimate:.4g} stands in"
                    )
            else:
                into[metric] = None
                if into is found.candidate:
                    found.notes.append(
                        f"{metric} not measured: {labelled} of {MIN_LABELS} labels needed came "
                        "back and there are no probabilities to estimate it from"
                    )


def _operations(
    con: duckdb.DuckDBPyConnection,
    candidate: Side,
    champion: Side,
    guardrails: tuple[Threshold, ...],
    start: dt.datetime,
    end: dt.datetime,
    found: Measured,
) -> None:
    operations = measure(con, start, end)
    for side, into in ((candidate, found.candidate), (champion, found.champion)):
        for point in operations.points:
            where = (point.model, point.version, point.role)
            if where == (side.model, side.version, side.role) and point.metric in OPERATIONS:
                into[point.metric] = point.value
    if any(g.metric == "prediction_drift" for g in guardrails):
        found.candidate["prediction_drift"] = _drift(
            _predictions(con, champion, start, end),
            _predictions(con, candidate, start, end),
            found.notes,
        )


def measure_rollout(
    store: Store,
    artifacts: ArtifactStore,
    folder: Path,
    endpoint: str,
    *,
    candidate: Side,
    champion: Side,
    guardrails: tuple[Threshold, ...],
    start: dt.datetime,
    end: dt.datetime,
) -> Measured:
    """The figures the guardrails read, for both sides, over ``start <= timestamp < end``."""
    found = Measured()
    for attempt in range(ATTEMPTS):
        try:
            con = connect(folder, endpoint, since=start, until=end)
        except NotFound:
            found.notes.append("nothing has been logged for this endpoint yet")
            return found
        except FileNotFoundError:  # a live segment converted to Parquet since the listing
            continue
        try:
            found = Measured()
            _operations(con, candidate, champion, guardrails, start, end, found)
            break
        except (duckdb.IOException, FileNotFoundError):
            # a compaction deleted a file between listing and reading: the records moved, list
            # again (as ``predlog.read_log`` does)
            if attempt == ATTEMPTS - 1:
                raise
        finally:
            con.close()
    wanted = {g.metric for g in guardrails if g.metric.startswith(("realised.", "estimated."))}
    if wanted and found.records:
        _performance(
            store, artifacts, folder, endpoint, (candidate, champion), wanted, start, end, found
        )
    return found


def plain(value: float | None) -> float | None:
    """A figure as JSON holds it: NaN and infinities have no JSON spelling, so they are kept
    apart by the caller (a NaN guardrail fails) and stored as null."""
    return None if value is None or not math.isfinite(value) else float(value)


__all__ = ["MIN_LABELS", "Measured", "Side", "measure_rollout", "plain"]
