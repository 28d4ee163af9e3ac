"""Pipeline runs and their steps as rows: written as a run goes, read by ``ls``/``show``.

A run is ``running`` until it ends ``succeeded`` or ``failed``. A step is ``pending`` until it is
reused (``cached``, with ``cached_from`` naming the step row whose output it reused), started
(``running``), finished (``succeeded``/``failed``), or never started because a step it depends on
failed (``skipped``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from mloop.errors import InvalidInput, NotFound
from mloop.ids import new_id
from mloop.store import Store
from mloop.store import tables as t

RunStatus = Literal["running", "succeeded", "failed"]
StepStatus = Literal["pending", "running", "succeeded", "failed", "cached", "skipped"]
FINISHED: tuple[str, ...] = ("succeeded", "cached")


def _utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _iso(value: dt.datetime | None) -> str | None:
    value = _utc(value)
    return None if value is None else value.isoformat()


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class PipelineStep:
    id: str
    name: str
    position: int
    status: StepStatus
    cached: bool
    cache_key: str
    cached_from: str | None
    seconds: float | None
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    error: str | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None

    @property
    def model(self) -> str | None:
        """``NAME@N`` when this step returned a registered model version."""
        value = self.outputs.get("return", {}).get("model")
        return value if isinstance(value, str) else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "position": self.position,
            "status": self.status,
            "cached": self.cached,
            "cache_key": self.cache_key or None,
            "cached_from": self.cached_from,
            "seconds": self.seconds,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "model": self.model,
            "error": self.error,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
        }


@dataclass(frozen=True)
class PipelineRun:
    """One run of a pipeline. ``outputs`` are the final step's; ``model`` the last model made."""

    id: str
    pipeline: str
    source: str
    params: dict[str, Any]
    status: RunStatus
    resumed_from: str | None
    executor: str
    error: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    created_by: str
    steps: tuple[PipelineStep, ...] = field(default=())
    final_step: str | None = None

    @property
    def seconds(self) -> float | None:
        started, ended = _utc(self.started_at), _utc(self.ended_at)
        return None if started is None or ended is None else (ended - started).total_seconds()

    def step(self, name: str) -> PipelineStep:
        for found in self.steps:
            if found.name == name:
                return found
        raise NotFound(f"Pipeline run {self.id} has no step {name!r}.")

    @property
    def outputs(self) -> dict[str, Any]:
        """The final step's output records (``return``: hash, format, type, and model if any)."""
        if self.final_step is None:
            return {}
        return self.step(self.final_step).outputs

    @property
    def model(self) -> str | None:
        """``NAME@N`` of the model version the latest-placed step returned, if any did."""
        for found in sorted(self.steps, key=lambda s: s.position, reverse=True):
            if found.model:
                return found.model
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pipeline": self.pipeline,
            "source": self.source,
            "params": self.params,
            "status": self.status,
            "resumed_from": self.resumed_from,
            "executor": self.executor,
            "error": self.error,
            "started_at": _iso(self.started_at),
            "ended_at": _iso(self.ended_at),
            "seconds": self.seconds,
            "created_by": self.created_by,
            "final_step": self.final_step,
            "outputs": self.outputs,
            "model": self.model,
            "steps": [s.to_dict() for s in self.steps],
        }


def start_run(
    store: Store,
    *,
    pipeline: str,
    source: str,
    params: dict[str, Any],
    resumed_from: str | None,
    executor: str,
    actor: str,
    steps: Sequence[tuple[str, int]],
) -> tuple[str, dict[str, str]]:
    """Record a running pipeline and its steps as pending; its id and each step's row id."""
    run_id = new_id()
    ids = {name: new_id() for name, _ in steps}
    with store.transaction() as conn:
        conn.execute(
            t.pipeline_runs.insert().values(
                id=run_id,
                pipeline=pipeline,
                source=source,
                params=params,
                status="running",
                resumed_from=resumed_from,
                executor=executor,
                error=None,
                started_at=now(),
                ended_at=None,
                created_by=actor,
            )
        )
        if steps:
            conn.execute(
                t.pipeline_steps.insert(),
                [
                    {
                        "id": ids[name],
                        "pipeline_run_id": run_id,
                        "name": name,
                        "position": position,
                        "status": "pending",
                        "cached": False,
                        "cache_key": "",
                        "cached_from": None,
                        "seconds": None,
                        "inputs": {},
                        "outputs": {},
                        "error": None,
                        "started_at": None,
                        "ended_at": None,
                    }
                    for name, position in steps
                ],
            )
    return run_id, ids


def update_steps(store: Store, changes: Sequence[tuple[str, dict[str, Any]]]) -> None:
    """Write several steps' new state in one transaction."""
    if not changes:
        return
    with store.transaction() as conn:
        for step_id, values in changes:
            conn.execute(
                t.pipeline_steps.update().where(t.pipeline_steps.c.id == step_id).values(**values)
            )


def end_run(store: Store, run_id: str, *, status: RunStatus, error: str | None) -> None:
    with store.transaction() as conn:
        conn.execute(
            t.pipeline_runs.update()
            .where(t.pipeline_runs.c.id == run_id)
            .values(status=status, error=error, ended_at=now())
        )


def find_cached(conn: sa.Connection, key: str, *, prefer_run: str | None = None) -> Any:
    """The newest finished step with this key (in ``prefer_run`` first, for ``--resume``)."""
    query = (
        sa.select(
            t.pipeline_steps.c.id,
            t.pipeline_steps.c.outputs,
            t.pipeline_steps.c.cached_from,
            t.pipeline_steps.c.pipeline_run_id,
        )
        .where(t.pipeline_steps.c.cache_key == key, t.pipeline_steps.c.status.in_(FINISHED))
        .order_by(t.pipeline_steps.c.id.desc())
    )
    if prefer_run is not None:
        row = conn.execute(
            query.where(t.pipeline_steps.c.pipeline_run_id == prefer_run).limit(1)
        ).first()
        if row is not None:
            return row
    return conn.execute(query.limit(1)).first()


def _to_step(row: Any) -> PipelineStep:
    return PipelineStep(
        id=row.id,
        name=row.name,
        position=row.position,
        status=row.status,
        cached=bool(row.cached),
        cache_key=row.cache_key,
        cached_from=row.cached_from,
        seconds=row.seconds,
        inputs=dict(row.inputs or {}),
        outputs=dict(row.outputs or {}),
        error=row.error,
        started_at=_utc(row.started_at),
        ended_at=_utc(row.ended_at),
    )


def _to_run(row: Any, steps: Sequence[PipelineStep]) -> PipelineRun:
    final = max(steps, key=lambda s: s.position).name if steps else None
    return PipelineRun(
        id=row.id,
        pipeline=row.pipeline,
        source=row.source,
        params=dict(row.params or {}),
        status=row.status,
        resumed_from=row.resumed_from,
        executor=row.executor,
        error=row.error,
        started_at=_utc(row.started_at) or now(),
        ended_at=_utc(row.ended_at),
        created_by=row.created_by,
        steps=tuple(steps),
        final_step=final,
    )


def _steps_of(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, list[PipelineStep]]:
    found: dict[str, list[PipelineStep]] = {run_id: [] for run_id in run_ids}
    if not run_ids:
        return found
    for row in conn.execute(
        sa.select(t.pipeline_steps)
        .where(t.pipeline_steps.c.pipeline_run_id.in_(list(run_ids)))
        .order_by(t.pipeline_steps.c.position)
    ):
        found[row.pipeline_run_id].append(_to_step(row))
    return found


def resolve_run_id(conn: sa.Connection, run: str) -> str:
    """A run id from an id or a unique prefix; raises ``NotFound``/``InvalidInput``."""
    rows = (
        conn.execute(
            sa.select(t.pipeline_runs.c.id)
            .where(t.pipeline_runs.c.id.startswith(run, autoescape=True))
            .limit(2)
        )
        .scalars()
        .all()
    )
    if len(rows) == 1 and run:
        return str(rows[0])
    if len(rows) > 1:
        raise InvalidInput(f"Pipeline run {run!r} matches more than one run; give more of it.")
    raise NotFound(f"No pipeline run {run!r}; `mloop pipeline ls` lists them.")


def get_run(store: Store, run: str, *, final_step: str | None = None) -> PipelineRun:
    """One pipeline run with its steps, by id or unique prefix."""
    with store.read() as conn:
        run_id = resolve_run_id(conn, run)
        row = conn.execute(sa.select(t.pipeline_runs).where(t.pipeline_runs.c.id == run_id)).one()
        found = _to_run(row, _steps_of(conn, [run_id])[run_id])
    if final_step is not None:
        found = PipelineRun(**{**found.__dict__, "final_step": final_step})
    return found


def list_runs(store: Store, *, pipeline: str | None = None, limit: int = 50) -> list[PipelineRun]:
    """The newest runs first (ids sort by creation time), with their steps."""
    if limit < 1:
        raise InvalidInput(f"--limit must be 1 or more; got {limit}.")
    query = sa.select(t.pipeline_runs).order_by(t.pipeline_runs.c.id.desc()).limit(limit)
    if pipeline is not None:
        query = query.where(t.pipeline_runs.c.pipeline == pipeline)
    with store.read() as conn:
        rows = conn.execute(query).all()
        steps = _steps_of(conn, [row.id for row in rows])
    return [_to_run(row, steps[row.id]) for row in rows]
