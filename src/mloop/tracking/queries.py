"""Reading runs back: one run in full, listings, a metric's history, runs side by side.

Every function takes a full run id or a unique prefix of one (``resolve_run_id``), as git does for
commits. Results are frozen records from ``records.py``; nothing here prints.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from mloop.errors import InvalidInput, NotFound
from mloop.store import Store
from mloop.store import tables as t
from mloop.tracking.environment import process_gone
from mloop.tracking.records import (
    STATUSES,
    ArtifactRecord,
    Comparison,
    ComparisonRow,
    MetricPoint,
    Run,
    RunInfo,
    RunInput,
    RunSummary,
    decode_metric,
    utc,
)

_LIST_HINT = "`mloop runs ls` lists them"


def resolve_run_id(conn: sa.Connection, run_id: str) -> str:
    """The full id for ``run_id`` or a unique prefix of one.

    Raises ``NotFound`` when no run matches and ``InvalidInput`` when the prefix is empty or
    matches several runs.
    """
    text = run_id.strip().lower()
    if not text:
        raise InvalidInput(f"A run id is needed; {_LIST_HINT}.")
    exact = conn.execute(sa.select(t.runs.c.id).where(t.runs.c.id == text)).scalar()
    if exact is not None:
        return str(exact)
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    matches = (
        conn.execute(
            sa.select(t.runs.c.id)
            .where(t.runs.c.id.like(escaped + "%", escape="\\"))
            .order_by(t.runs.c.id)
            .limit(3)
        )
        .scalars()
        .all()
    )
    if not matches:
        raise NotFound(f"No run {run_id!r}; {_LIST_HINT}.")
    if len(matches) > 1:
        shown = ", ".join(matches[:2]) + (", …" if len(matches) > 2 else "")
        raise InvalidInput(
            f"Run prefix {run_id!r} matches several runs ({shown}); give more characters of the id."
        )
    return str(matches[0])


def _latest_metrics(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, dict[str, float]]:
    """Latest value per (run, key): highest step, then newest timestamp."""
    result: dict[str, dict[str, float]] = {}
    if not run_ids:
        return result
    m = t.metrics
    ranked = (
        sa.select(
            m.c.run_id,
            m.c.key,
            m.c.value,
            sa.func.row_number()
            .over(
                partition_by=(m.c.run_id, m.c.key),
                order_by=(m.c.step.desc(), m.c.timestamp_ms.desc()),
            )
            .label("rank"),
        )
        .where(m.c.run_id.in_(list(run_ids)))
        .subquery()
    )
    query = sa.select(ranked.c.run_id, ranked.c.key, ranked.c.value).where(ranked.c.rank == 1)
    for run_id, key, value in conn.execute(query):
        result.setdefault(run_id, {})[key] = decode_metric(value)
    return {run_id: dict(sorted(found.items())) for run_id, found in result.items()}


def _run_query() -> sa.Select[Any]:
    return sa.select(t.runs, t.experiments.c.name.label("experiment")).join(
        t.experiments, t.experiments.c.id == t.runs.c.experiment_id
    )


def _info(row: Any) -> RunInfo:
    return RunInfo(
        id=row.id,
        experiment=row.experiment,
        name=row.name,
        status=row.status,
        started_at=utc(row.started_at),
        ended_at=None if row.ended_at is None else utc(row.ended_at),
        user=row.user,
        error=row.error,
        environment=dict(row.environment or {}),
        process_gone=_process_gone(row),
        parent_run_id=row.parent_run_id,
    )


def _process_gone(row: Any) -> bool:
    return row.status == "RUNNING" and process_gone(dict(row.environment or {}))


def _inputs(conn: sa.Connection, run_id: str) -> list[RunInput]:
    versions, datasets = t.dataset_versions, t.datasets
    query = (
        sa.select(
            t.run_inputs.c.dataset_version_id,
            t.run_inputs.c.role,
            datasets.c.name,
            versions.c.version,
            versions.c.content_hash,
        )
        .outerjoin(versions, versions.c.id == t.run_inputs.c.dataset_version_id)
        .outerjoin(datasets, datasets.c.id == versions.c.dataset_id)
        .where(t.run_inputs.c.run_id == run_id)
        .order_by(t.run_inputs.c.role, datasets.c.name, versions.c.version)
    )
    return [
        RunInput(
            dataset_version_id=r.dataset_version_id,
            role=r.role,
            dataset_ref=None if r.name is None else f"{r.name}@{r.version}",
            content_hash=r.content_hash,
        )
        for r in conn.execute(query)
    ]


def get_run(store: Store, run_id: str) -> Run:
    """One run in full: info, params, latest metrics, tags, artifacts, inputs.

    Raises ``NotFound`` for an unknown id and ``InvalidInput`` for an ambiguous prefix.
    """
    with store.read() as conn:
        full = resolve_run_id(conn, run_id)
        info = _info(conn.execute(_run_query().where(t.runs.c.id == full)).one())
        params = dict(
            conn.execute(
                sa.select(t.params.c.key, t.params.c.value)
                .where(t.params.c.run_id == full)
                .order_by(t.params.c.key)
            ).all()
        )
        tags = dict(
            conn.execute(
                sa.select(t.tags.c.key, t.tags.c.value)
                .where(t.tags.c.run_id == full)
                .order_by(t.tags.c.key)
            ).all()
        )
        artifacts = [
            ArtifactRecord(r.path, r.blob_hash, int(r.size_bytes), r.kind)
            for r in conn.execute(
                sa.select(t.run_artifacts)
                .where(t.run_artifacts.c.run_id == full)
                .order_by(t.run_artifacts.c.path)
            )
        ]
        inputs = _inputs(conn, full)
        metrics = _latest_metrics(conn, [full]).get(full, {})
    return Run(info, params, metrics, tags, artifacts, inputs)


def list_runs(
    store: Store,
    *,
    experiment: str | None = None,
    status: str | None = None,
    limit: int = 100,
    parent: str | None = None,
) -> list[RunSummary]:
    """Runs, newest first, with their latest metrics; only ``parent``'s children when given
    (a run id or a unique prefix of one).

    Raises ``NotFound`` when ``experiment`` names no experiment, ``InvalidInput`` for ``limit < 1``
    or an unknown ``status``.
    """
    if limit < 1:
        raise InvalidInput(f"The run limit must be at least 1, not {limit}.")
    query = _run_query().order_by(t.runs.c.started_at.desc(), t.runs.c.id.desc()).limit(limit)
    if status is not None:
        if status.upper() not in STATUSES:
            raise InvalidInput(f"Run status {status!r} is not one of {', '.join(STATUSES)}.")
        query = query.where(t.runs.c.status == status.upper())
    with store.read() as conn:
        if parent is not None:
            query = query.where(t.runs.c.parent_run_id == resolve_run_id(conn, parent))
        if experiment is not None:
            known = conn.execute(
                sa.select(t.experiments.c.id).where(t.experiments.c.name == experiment)
            ).scalar()
            if known is None:
                raise NotFound(
                    f"No experiment {experiment!r}; `mloop runs ls` without --experiment lists "
                    "runs of every experiment."
                )
            query = query.where(t.runs.c.experiment_id == known)
        rows = conn.execute(query).all()
        metrics = _latest_metrics(conn, [r.id for r in rows])
    return [
        RunSummary(
            id=r.id,
            experiment=r.experiment,
            name=r.name,
            status=r.status,
            started_at=utc(r.started_at),
            ended_at=None if r.ended_at is None else utc(r.ended_at),
            user=r.user,
            metrics=metrics.get(r.id, {}),
            process_gone=_process_gone(r),
            parent_run_id=r.parent_run_id,
        )
        for r in rows
    ]


def metric_history(store: Store, run_id: str, key: str) -> list[MetricPoint]:
    """Every point of one metric, by step then timestamp.

    Raises ``NotFound`` for an unknown run, or when the run has no metric ``key``.
    """
    m = t.metrics
    with store.read() as conn:
        full = resolve_run_id(conn, run_id)
        rows = conn.execute(
            sa.select(m.c.step, m.c.timestamp_ms, m.c.value)
            .where(m.c.run_id == full, m.c.key == key)
            .order_by(m.c.step, m.c.timestamp_ms)
        ).all()
        if not rows:
            keys = (
                conn.execute(sa.select(m.c.key).where(m.c.run_id == full).distinct())
                .scalars()
                .all()
            )
            logged = ", ".join(sorted(keys)) or "none"
            raise NotFound(f"Run {full} has no metric {key!r}; it logged: {logged}.")
    return [MetricPoint(int(s), int(ts), decode_metric(v)) for s, ts, v in rows]


def _canonical(value: Any) -> str:
    """Equality that keeps JSON types apart (0.1 is not "0.1", 1 is not true) and NaN == NaN."""
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return json.dumps(value, sort_keys=True, default=str)


def compare_runs(store: Store, run_ids: Sequence[str]) -> Comparison:
    """Params and latest metrics of two or more runs side by side, each row flagged if it differs.

    A key one run did not log is None for that run (and so differs). Raises ``InvalidInput`` for
    fewer than two distinct runs, ``NotFound`` for an unknown one.
    """
    runs: list[Run] = []
    for run_id in run_ids:
        run = get_run(store, run_id)
        if all(r.id != run.id for r in runs):
            runs.append(run)
    if len(runs) < 2:
        raise InvalidInput(f"Compare needs at least two different runs; {_LIST_HINT}.")
    rows: list[ComparisonRow] = []
    for key in sorted({k for run in runs for k in run.params}):
        values = [run.params.get(key) for run in runs]
        rows.append(ComparisonRow("param", key, values, len(set(map(_canonical, values))) > 1))
    for key in sorted({k for run in runs for k in run.metrics}):
        values = [run.metrics.get(key) for run in runs]
        rows.append(ComparisonRow("metric", key, values, len(set(map(_canonical, values))) > 1))
    return Comparison([run.id for run in runs], rows, [run.info.name for run in runs])
