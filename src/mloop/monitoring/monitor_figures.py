"""The monitor's drift and performance figures, from the drift and performance services.

- Drift: the window's answered inputs against the reference's stored profile (``reference`` in
  the monitor, else the training dataset version of the model the endpoint serves live), counted
  on the reference's bins, so the training data is never read again. Points: ``drift_share``,
  ``drifted_columns`` and ``drift.COLUMN`` (each column's score against its own threshold).
- Prediction drift: the window's predictions and probabilities against the previous window of
  the same length (training data holds no predictions); ``prediction_drift`` is the share of
  those columns that drifted.
- Performance: ``realised.METRIC`` on the labels that came back, ``estimated.METRIC`` (CBPE)
  from the logged probabilities, and ``labelled_share``; the whole window's figure is the
  primary version that answered most of it.

Each returns the points and the notes that say why a figure is missing (no reference, no
labels), which the summary shows rather than leaving a threshold silently unchecked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from mloop.artifacts import ArtifactStore
from mloop.errors import InvalidInput, NotFound
from mloop.monitoring.columns import kind_of
from mloop.monitoring.drift import DriftReport, Side, compare, prediction_drift, profile_on
from mloop.monitoring.operations import Point
from mloop.monitoring.performance import GroupPerformance, PerformanceReport, performance
from mloop.predlog.records import INPUT_PREFIX, PROBA_PREFIX
from mloop.registry.gate_config import Threshold
from mloop.store import Store
from mloop.store import tables as t


@dataclass
class Figures:
    points: list[Point] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lead: list[str] = field(default_factory=list)  # what drifted, first in the summary
    drift: DriftReport | None = None


def training_reference(store: Store, endpoint: str) -> str | None:
    """``NAME@V`` of the dataset the live primary model was trained on; None when unknown."""
    from mloop.endpoints.service import get_endpoint

    try:
        live = get_endpoint(store, endpoint).live
    except (NotFound, InvalidInput):
        return None
    if live is None:
        return None
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.run_inputs.c.role, t.datasets.c.name, t.dataset_versions.c.version)
            .join(t.model_versions, t.model_versions.c.run_id == t.run_inputs.c.run_id)
            .join(t.dataset_versions, t.dataset_versions.c.id == t.run_inputs.c.dataset_version_id)
            .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
            .where(t.model_versions.c.id == live.primary.version_id)
        ).all()
    if not rows:
        return None
    chosen = next((r for r in rows if r.role == "train"), rows[0])
    return f"{chosen.name}@{chosen.version}"


def _drift_share_threshold(thresholds: Sequence[Threshold]) -> float:
    for threshold in thresholds:
        if threshold.metric == "drift_share" and 0 < threshold.value <= 1:
            return threshold.value
    return 0.5


@dataclass(frozen=True)
class DriftReference:
    """The side a window's inputs are compared with: ``NAME@V`` (or a file, or a log window)
    and its profile; ``text`` None when the live model records no training dataset."""

    text: str | None
    side: Side | None

    @property
    def free_text(self) -> list[str]:
        """Inputs drift never compares (ids, sentences): only their nulls are counted, so a
        window need not carry their values."""
        if self.side is None:
            return []
        profile = self.side.profile
        return [
            name
            for name, column in profile.columns.items()
            if kind_of(column, profile.distinct.get(name)) is None
        ]


def drift_reference(
    store: Store, log_folder: Path, *, reference: str | None, endpoint: str
) -> DriftReference:
    """The monitor's ``reference``, else the training data of the model ``endpoint`` serves."""
    from mloop.monitoring.sources import resolve

    text = reference or training_reference(store, endpoint)
    return DriftReference(text, None if text is None else resolve(text, store, log_folder))


def drift_figures(
    reference: DriftReference,
    *,
    endpoint: str,
    window: pa.Table,
    predictions: pa.Table,
    previous: pa.Table | None,
    thresholds: Sequence[Threshold],
    label: str,
    features: Collection[str] | None = None,
) -> Figures:
    """Drift of the window's answered inputs (``window``: ``status`` and ``input.*`` columns)
    against ``reference``, and of its ``predictions`` against the ``previous`` window's; see
    the module docstring.

    ``features`` (the columns the logged model versions read; None when unknown) limits the
    compared columns: a field the model ignores (a date, an id a client also sends) cannot
    drift the model's inputs, and a date always moves on."""
    found = Figures()
    status = window.column("status")
    worst = pc.max(status).as_py() if window.num_rows else None
    # a filter copies every column (1.5 s for a million rows of text): only when it drops rows
    answered = (
        window
        if worst is None or (worst < 400 and status.null_count == 0)
        else window.filter(pc.fill_null(pc.less(status, 400), False))
    )
    inputs = [n for n in answered.column_names if n.startswith(INPUT_PREFIX)]
    ref_text = reference.text
    if ref_text is None or reference.side is None:
        found.notes.append(
            "drift not measured: the live model records no training dataset; set "
            f'reference = "NAME@V" in [monitors.{endpoint}]'
        )
    elif answered.num_rows == 0 or not inputs:
        found.notes.append("drift not measured: no answered requests with inputs in the window")
    else:
        ref = reference.side
        current = answered.select(inputs).rename_columns([n[len(INPUT_PREFIX) :] for n in inputs])
        columns = [
            c
            for c in ref.profile.columns
            if c in current.column_names and (features is None or c in features)
        ]
        if not columns:
            found.notes.append(
                f"drift not measured: {ref_text} shares no column with the logged inputs"
            )
        else:
            side = Side(label, profile_on(ref.profile, current.select(columns)), current)
            report = compare(
                ref, side, drift_share=_drift_share_threshold(thresholds), columns=columns
            )
            found.drift = report
            drifted = sorted(
                (c for c in report.columns if c.drifted),
                key=lambda c: c.score / c.threshold if c.threshold else 0.0,
                reverse=True,
            )
            found.points += [
                Point("drift_share", report.drift_share),
                Point("drifted_columns", float(len(drifted))),
                *(Point(f"drift.{c.column}", c.score) for c in report.columns),
            ]
            found.lead.append(f"{len(drifted)} of {len(report.columns)} features drifted")
            found.lead += [c.explanation for c in drifted[:2]]
            found.lead += [
                f"{c.column}: missing values {c.null_rate['reference']:.1%} → "
                f"{c.null_rate['current']:.1%}"
                for c in report.columns
                if c.null_rate_jump
            ][:2]
    if previous is not None:
        found.points += _prediction_drift(previous, predictions, found)
    return found


def _prediction_columns(table: pa.Table) -> list[str]:
    names = ["prediction"] if "prediction" in table.column_names else []
    return names + [n for n in table.column_names if n.startswith(PROBA_PREFIX)]


def _prediction_drift(previous: pa.Table, current: pa.Table, found: Figures) -> list[Point]:
    before = previous.filter(pc.fill_null(pc.less(previous.column("status"), 400), False))
    columns = [c for c in _prediction_columns(current) if c in before.column_names]
    if not columns or before.num_rows == 0 or current.num_rows == 0:
        found.notes.append("prediction drift not measured: the previous window has no predictions")
        return []
    try:
        report = prediction_drift(before.select(columns), current.select(columns))
    except InvalidInput as exc:
        found.notes.append(f"prediction drift not measured: {exc.message}")
        return []
    return [Point("prediction_drift", report.drift_share)]


def performance_figures(
    store: Store,
    artifacts: ArtifactStore,
    log_folder: Path,
    endpoint: str,
    *,
    start: dt.datetime,
    end: dt.datetime,
    segments: Sequence[str],
) -> Figures:
    """Realised and estimated performance per version and role, and the primary's per segment
    (one read of the window per segment column; without segments, one read)."""
    found = Figures()
    reports: list[PerformanceReport] = []
    choices: list[str | None] = [*segments] or [None]
    for segment_by in choices:
        try:
            reports.append(
                performance(
                    store,
                    artifacts,
                    log_folder,
                    endpoint,
                    since=start,
                    until=end,
                    segment_by=segment_by,
                )
            )
        except InvalidInput as exc:  # a segment column with too many values to score
            found.notes.append(f"performance by {segment_by} not measured: {exc.message}")
    if not reports:
        return found
    first = reports[0]
    for group in first.groups:
        if group.segment is None:
            found.points += _group_points(
                group, model=group.model, version=group.version, role=group.role
            )
    primary = first.group(role="primary")
    if primary is None:
        return found
    found.points += _group_points(primary)
    if primary.rows and not primary.labelled:
        found.notes.append("realised performance not measured: no labels have come back yet")
    for report in reports:
        for group in report.groups:
            same = (group.model, group.version, group.role) == (
                primary.model,
                primary.version,
                "primary",
            )
            if report.segment_by is not None and group.segment is not None and same:
                found.points += _group_points(group, segment=f"{report.segment_by}={group.segment}")
    return found


def _group_points(
    group: GroupPerformance,
    *,
    segment: str | None = None,
    model: str | None = None,
    version: int | None = None,
    role: str | None = None,
) -> list[Point]:
    where = {"segment": segment, "model": model, "version": version, "role": role}
    points = [Point(f"realised.{m}", v, **where) for m, v in group.realised.items()]  # type: ignore[arg-type]
    points += [Point(f"estimated.{m}", v, **where) for m, v in group.estimated.items()]  # type: ignore[arg-type]
    if group.rows:
        points.append(Point("labelled_share", group.labelled / group.rows, **where))  # type: ignore[arg-type]
    return points
