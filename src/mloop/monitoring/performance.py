"""Realised and estimated performance of an endpoint's predictions over a window of its log.

Signatures (the monitor, the CLI and reports call these)::

    realised(store, log_root, endpoint, *, since=None, until=None, segment_by=None) -> PerformanceReport
    estimated(store, artifacts, log_root, endpoint, *, since=None, until=None, segment_by=None) -> PerformanceReport
    performance(store, artifacts, log_root, endpoint, *, since=None, until=None, segment_by=None) -> PerformanceReport

A window is ``since <= timestamp < until`` on the logged prediction time (UTC; open ends when
None). Its rows are the answered predictions (status 200 with a prediction), grouped by model
version and role (primary, canary, shadow), and with ``segment_by`` also by that column's values
(an input column by its name, e.g. ``contract``, or a log column such as ``routing_key``);
the groups without a segment (``segment=None``) cover all rows of the version and role, a
missing segment value is ``"(missing)"``.

Realised metrics are ``mloop train``'s (``scoring.metrics``: accuracy, precision, recall, f1,
roc_auc, log_loss for classifiers, with the model's classes and positive class; mae, rmse, r2 for
regressors) on the rows that have a label (``feedback``). Estimated metrics are CBPE's
(``cbpe``) from the logged probabilities, calibrated on the version's held-out rows
(``calibration``); regressors have none.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mloop.artifacts import ArtifactStore
from mloop.data.schema import category_text
from mloop.errors import InvalidInput, NotFound
from mloop.monitoring.calibration import calibrator_for
from mloop.monitoring.cbpe import estimates
from mloop.monitoring.coded_metrics import coded_classification_metrics
from mloop.monitoring.feedback import query_labelled
from mloop.predlog.records import FIXED_NAMES, INPUT_PREFIX, PROBA_PREFIX
from mloop.scoring.calibration import Calibrator
from mloop.signature import Signature
from mloop.store import Store

MISSING_SEGMENT = "(missing)"
MAX_SEGMENTS = 100
GROUP_KEYS = ("model", "version", "role")


@dataclass(frozen=True)
class GroupPerformance:
    """One model version in one role (and segment) over the window."""

    model: str
    version: int
    role: str
    segment: str | None
    task: str | None
    rows: int
    labelled: int
    realised: dict[str, float] = field(default_factory=dict)
    estimated: dict[str, float] = field(default_factory=dict)
    calibration: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "role": self.role,
            "segment": self.segment,
            "task": self.task,
            "rows": self.rows,
            "labelled": self.labelled,
            "realised": dict(self.realised),
            "estimated": dict(self.estimated),
            "calibration": self.calibration,
        }


@dataclass(frozen=True)
class PerformanceReport:
    endpoint: str
    since: dt.datetime | None
    until: dt.datetime | None
    segment_by: str | None
    groups: tuple[GroupPerformance, ...]

    def group(
        self, *, role: str = "primary", segment: str | None = None
    ) -> GroupPerformance | None:
        """The group of ``role`` (and ``segment``) with the most rows: after a deploy inside the
        window, the version that answered most of it."""
        found = [g for g in self.groups if g.role == role and g.segment == segment]
        return max(found, key=lambda g: g.rows) if found else None

    def to_json(self) -> dict[str, Any]:
        def stamp(value: dt.datetime | None) -> str | None:
            return None if value is None else value.isoformat().replace("+00:00", "Z")

        return {
            "endpoint": self.endpoint,
            "window": {"start": stamp(self.since), "end": stamp(self.until)},
            "segment_by": self.segment_by,
            "groups": [g.to_json() for g in self.groups],
        }


def _segment_column(names: list[str], segment_by: str) -> str:
    for candidate in (INPUT_PREFIX + segment_by, segment_by):
        if candidate in names and (candidate in FIXED_NAMES or candidate.startswith(INPUT_PREFIX)):
            return candidate
    inputs = sorted(n[len(INPUT_PREFIX) :] for n in names if n.startswith(INPUT_PREFIX))
    raise InvalidInput(
        f"No column {segment_by!r} to split by in the log; its inputs: {', '.join(inputs) or 'none'}."
    )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _window(
    log_root: Path,
    endpoint: str,
    since: dt.datetime | None,
    until: dt.datetime | None,
    segment_by: str | None,
) -> pa.Table:
    """The window's answered predictions: group keys, prediction, label, probabilities, segment."""

    def build(columns: list[str]) -> str:
        wanted = ["model", "version", "role", "prediction", "label"]
        wanted += [c for c in columns if c.startswith(PROBA_PREFIX)]
        select = ", ".join(_quoted(c) for c in wanted)
        if segment_by is not None:
            source = _segment_column(columns, segment_by)
            select += (
                f", coalesce(CAST({_quoted(source)} AS VARCHAR), '{MISSING_SEGMENT}') AS segment"
            )
        return (
            f"SELECT {select} FROM labelled "
            "WHERE status = 200 AND prediction IS NOT NULL AND model IS NOT NULL"
        )

    rows = query_labelled(log_root, endpoint, build, since=since, until=until)
    keys = [*GROUP_KEYS, *(["segment"] if segment_by is not None else [])]
    return rows.take(_order_by(rows, keys))


def _order_by(rows: pa.Table, keys: Sequence[str]) -> np.ndarray:
    """The row order that sorts ``rows`` by ``keys`` (ascending, nulls last), stable.

    The keys have few distinct values (versions, roles, segments): each becomes its rank among
    them and one integer sort orders the rows, cheaper than a database sort of every column.
    """
    code = np.zeros(rows.num_rows, dtype=np.int64)
    for key in keys:
        column = rows.column(key)
        distinct = pc.unique(column).drop_null()
        ranked = distinct.take(pc.sort_indices(distinct))
        rank = pc.index_in(column, value_set=ranked).fill_null(len(ranked))
        code = code * (len(ranked) + 1) + np.asarray(rank.to_numpy(), dtype=np.int64)
    return np.argsort(code, kind="stable")


def _signature(store: Store, model: str, version: int) -> Signature | None:
    from mloop.registry.versions import resolve

    try:
        return resolve(store, f"{model}@{version}").signature
    except NotFound:
        return None


def _task(signature: Signature | None, prediction: pa.DataType) -> str:
    if signature is not None and signature.task is not None:
        return str(signature.task.value)
    return "regression" if pa.types.is_floating(prediction) else "classification"


def _classes(signature: Signature | None, rows: pa.Table) -> list[Any]:
    """The model's classes in its order; for a version the registry no longer holds, the values
    seen in the window, sorted."""
    if signature is not None and signature.classes:
        return list(signature.classes)
    seen = pa.chunked_array(
        [
            *rows.column("prediction").chunks,
            *rows.column("label").drop_null().cast(rows.column("prediction").type).chunks,
        ],
        type=rows.column("prediction").type,
    )
    return sorted(pc.unique(seen).to_pylist(), key=category_text)


def _codes(columns: list[pa.ChunkedArray], classes: list[Any]) -> list[np.ndarray]:
    """Each column's values as class codes: ``0..k-1`` the model's classes in order, ``k`` and
    up one code per value the model does not know (all columns share them)."""
    kind = columns[0].type
    try:
        known = pa.array(classes).cast(kind)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        kind = pa.string()
        known = pa.array([category_text(c) for c in classes], pa.string())
        columns = [c.cast(pa.string()) for c in columns]
    unknown = [c.filter(pc.invert(pc.is_in(c, value_set=known))) for c in columns]
    extra = pc.unique(pa.chunked_array([x for u in unknown for x in u.chunks], type=kind))
    value_set = pa.concat_arrays([known, extra.cast(kind)]) if len(extra) else known
    return [
        np.asarray(pc.index_in(c, value_set=value_set).to_numpy(zero_copy_only=False), np.int64)
        for c in columns
    ]


def _proba(rows: pa.Table, classes: list[Any]) -> np.ndarray | None:
    """n×k logged probabilities in class order; None when a class's column or a value is missing."""
    names = [PROBA_PREFIX + category_text(c) for c in classes]
    if not classes or any(n not in rows.column_names for n in names):
        return None
    matrix = np.column_stack(
        [rows.column(n).to_numpy(zero_copy_only=False).astype(float) for n in names]
    )
    return None if np.isnan(matrix).any() else matrix


def _floats(column: pa.ChunkedArray) -> np.ndarray:
    return np.asarray(column.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=float)


def _realised(rows: pa.Table, task: str, classes: list[Any]) -> dict[str, float]:
    if rows.column("label").null_count == rows.num_rows:
        return {}
    labelled = rows.filter(rows.column("label").is_valid())
    if task == "regression":
        from mloop.scoring.metrics import regression_metrics  # scikit-learn: only when needed

        return regression_metrics(
            _floats(labelled.column("label")), _floats(labelled.column("prediction"))
        )
    y_true, y_pred = _codes([labelled.column("label"), labelled.column("prediction")], classes)
    return coded_classification_metrics(y_true, y_pred, _proba(labelled, classes), len(classes))


@dataclass(frozen=True)
class _Scored:
    """A group's logged probabilities, calibrated, its predicted class codes and (binary) its
    ranking by score; a segment is a slice of its group, so these are computed once."""

    classes: tuple[Any, ...]
    raw: np.ndarray
    calibrated: np.ndarray
    predicted: np.ndarray
    order: np.ndarray | None

    def estimates(self, at: int, size: int) -> dict[str, float]:
        if at == 0 and size == len(self.raw):
            return estimates(self.calibrated, self.raw, self.predicted, self.order)
        order = None
        if self.order is not None:  # the slice's ranking is a subsequence of the group's
            order = self.order[(self.order >= at) & (self.order < at + size)] - at
        end = at + size
        return estimates(self.calibrated[at:end], self.raw[at:end], self.predicted[at:end], order)


def _scored(rows: pa.Table, classes: list[Any], calibrator: Calibrator | None) -> _Scored | None:
    raw = _proba(rows, classes)
    if raw is None or calibrator is None or len(classes) < 2:
        return None
    (predicted,) = _codes([rows.column("prediction")], classes)
    predicted[predicted >= len(classes)] = -1
    order = np.argsort(-raw[:, 1], kind="stable") if len(classes) == 2 else None
    return _Scored(tuple(classes), raw, calibrator.apply(raw), predicted, order)


def _runs(rows: pa.Table, keys: Sequence[str]) -> list[tuple[int, int]]:
    """(offset, length) of each run of equal ``keys`` in rows sorted by them."""
    n = rows.num_rows
    if n == 0:
        return []
    changed = np.zeros(n, dtype=bool)
    changed[0] = True
    for key in keys:
        column = rows.column(key).combine_chunks()
        differs = pc.fill_null(pc.not_equal(column.slice(1), column.slice(0, n - 1)), True)
        changed[1:] |= differs.to_numpy(zero_copy_only=False)
    starts = np.flatnonzero(changed)
    lengths = np.diff(np.r_[starts, n])
    return [(int(a), int(b)) for a, b in zip(starts, lengths, strict=True)]


def _groups(rows: pa.Table, segment_by: str | None) -> list[tuple[tuple[Any, ...], pa.Table, int]]:
    """(model, version, role[, segment]) → its rows and where they start in the whole group's;
    whole groups first, then per segment.

    The window arrives sorted by these keys (``_order_by``), so every group is a zero-copy slice.
    """
    out: list[tuple[tuple[Any, ...], pa.Table, int]] = []
    for offset, length in _runs(rows, GROUP_KEYS):
        part = rows.slice(offset, length)
        model, version, role = (part.column(k)[0].as_py() for k in GROUP_KEYS)
        out.append(((model, version, role, None), part, 0))
        if segment_by is None:
            continue
        runs = _runs(part, ["segment"])
        if len(runs) > MAX_SEGMENTS:
            raise InvalidInput(
                f"{segment_by!r} has {len(runs)} values in the window, over {MAX_SEGMENTS} "
                "segments; split by a categorical column."
            )
        for at, size in runs:
            piece = part.slice(at, size)
            out.append(((model, version, role, piece.column("segment")[0].as_py()), piece, at))
    return out


def _report(
    store: Store,
    artifacts: ArtifactStore | None,
    log_root: str | os.PathLike[str],
    endpoint: str,
    *,
    since: dt.datetime | None,
    until: dt.datetime | None,
    segment_by: str | None,
    with_realised: bool,
    with_estimated: bool,
) -> PerformanceReport:
    root = Path(log_root)
    rows = _window(root, endpoint, since, until, segment_by)
    prediction_type = rows.schema.field("prediction").type
    signatures: dict[tuple[str, int], Signature | None] = {}
    calibrators: dict[tuple[str, int], Calibrator | None] = {}
    groups = []
    scores: dict[tuple[Any, ...], _Scored | None] = {}
    for (model, version, role, segment), part, at in _groups(rows, segment_by):
        ref = (model, version)
        if ref not in signatures:
            signatures[ref] = _signature(store, model, version)
        signature = signatures[ref]
        task = _task(signature, prediction_type)
        classes: list[Any] = []
        if task == "classification":
            classes = _classes(signature, part)
        realised_metrics: dict[str, float] = {}
        estimated_metrics: dict[str, float] = {}
        calibration = None
        if with_realised:
            realised_metrics = _realised(part, task, classes)
        if with_estimated and task == "classification" and artifacts is not None:
            if ref not in calibrators:
                calibrators[ref] = _calibrator(store, artifacts, root, model, version)
            calibrator = calibrators[ref]
            whole = (model, version, role)
            scored = scores.get(whole) if segment is not None else None
            if scored is None or scored.classes != tuple(classes):
                scored, at = _scored(part, classes, calibrator), 0
            if segment is None:
                scores[whole] = scored
            estimated_metrics = {} if scored is None else scored.estimates(at, part.num_rows)
            calibration = None if calibrator is None else calibrator.to_json()
        groups.append(
            GroupPerformance(
                model=model,
                version=int(version),
                role=role,
                segment=segment,
                task=task,
                rows=part.num_rows,
                labelled=part.num_rows - part.column("label").null_count,
                realised=realised_metrics,
                estimated=estimated_metrics,
                calibration=calibration,
            )
        )
    return PerformanceReport(endpoint, since, until, segment_by, tuple(groups))


def _calibrator(
    store: Store, artifacts: ArtifactStore, root: Path, model: str, version: int
) -> Calibrator | None:
    from mloop.registry.versions import resolve

    try:
        found = resolve(store, f"{model}@{version}")
    except NotFound:
        return None
    return calibrator_for(store, artifacts, root, found)


def realised(
    store: Store,
    log_root: str | os.PathLike[str],
    endpoint: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    segment_by: str | None = None,
) -> PerformanceReport:
    """Metrics on the window's labelled predictions, per model version, role (and segment).

    Raises ``NotFound`` when the endpoint never logged, ``InvalidInput`` for an unknown
    ``segment_by`` column or one with more than ``MAX_SEGMENTS`` values in the window.
    """
    return _report(
        store,
        None,
        log_root,
        endpoint,
        since=since,
        until=until,
        segment_by=segment_by,
        with_realised=True,
        with_estimated=False,
    )


def estimated(
    store: Store,
    artifacts: ArtifactStore,
    log_root: str | os.PathLike[str],
    endpoint: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    segment_by: str | None = None,
) -> PerformanceReport:
    """CBPE estimates of the window's classification metrics (no labels needed); the first call
    for a model version scores its held-out rows once to calibrate (then cached). Raises as
    ``realised``."""
    return _report(
        store,
        artifacts,
        log_root,
        endpoint,
        since=since,
        until=until,
        segment_by=segment_by,
        with_realised=False,
        with_estimated=True,
    )


def performance(
    store: Store,
    artifacts: ArtifactStore,
    log_root: str | os.PathLike[str],
    endpoint: str,
    *,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    segment_by: str | None = None,
) -> PerformanceReport:
    """Realised and estimated side by side, from one read of the window. Raises as ``realised``."""
    return _report(
        store,
        artifacts,
        log_root,
        endpoint,
        since=since,
        until=until,
        segment_by=segment_by,
        with_realised=True,
        with_estimated=True,
    )
