"""Job records: one row in ``jobs`` per batch run, so a scored file can be traced back.

A job is written ``running`` when the work starts and closed once, ``succeeded`` or ``failed``
(with the error), with what it read and wrote (paths and BLAKE3 content hashes), its counts and
the model version it used. Its ``kind`` says which service ran it (``predict`` here; ``retrain``
for the loop's jobs, which ``mloop.loop.jobs`` reads in full), so all share ``mloop jobs``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from mloop.errors import InvalidInput, NotFound
from mloop.ids import new_id
from mloop.store import Store
from mloop.store import tables as t

# retraining jobs (kind "retrain", see mloop.loop.jobs) share the table and add their own states
Status = Literal["running", "succeeded", "failed", "queued", "interrupted", "rejected", "coalesced"]
LIST_LIMIT = 50


@dataclass(frozen=True)
class Job:
    id: str
    kind: str
    status: Status
    model: str | None  # NAME@N of the model version it used
    model_version_id: str | None
    params: dict[str, Any]
    inputs: dict[str, Any]
    outputs: dict[str, Any]
    counts: dict[str, Any]
    error: str | None
    started_at: dt.datetime
    ended_at: dt.datetime | None
    created_by: str

    @property
    def seconds(self) -> float | None:
        if self.ended_at is None:
            return None
        return (_utc(self.ended_at) - _utc(self.started_at)).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "status": self.status,
            "model": self.model,
            "model_version_id": self.model_version_id,
            "params": self.params,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "counts": self.counts,
            "error": self.error,
            "started_at": _utc(self.started_at).isoformat(),
            "ended_at": None if self.ended_at is None else _utc(self.ended_at).isoformat(),
            "seconds": self.seconds,
            "created_by": self.created_by,
        }


def _utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def start_job(
    store: Store,
    *,
    kind: str,
    model_version_id: str | None,
    params: dict[str, Any],
    inputs: dict[str, Any],
    actor: str,
) -> str:
    """Record a job as running; returns its id."""
    job_id = new_id()
    with store.transaction() as conn:
        conn.execute(
            t.jobs.insert().values(
                id=job_id,
                kind=kind,
                status="running",
                model_version_id=model_version_id,
                params=params,
                inputs=inputs,
                outputs={},
                counts={},
                error=None,
                started_at=_now(),
                ended_at=None,
                created_by=actor,
            )
        )
    return job_id


def end_job(
    store: Store,
    job_id: str,
    *,
    status: Status,
    outputs: dict[str, Any] | None = None,
    counts: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Close a running job once: its outputs, counts, and the error when it failed."""
    values: dict[str, Any] = {"status": status, "ended_at": _now(), "error": error}
    if outputs is not None:
        values["outputs"] = outputs
    if counts is not None:
        values["counts"] = counts
    with store.transaction() as conn:
        conn.execute(
            t.jobs.update()
            .where(t.jobs.c.id == job_id, t.jobs.c.status == "running")
            .values(**values)
        )


def _select() -> sa.Select[Any]:
    ref = t.models.c.name + "@" + sa.cast(t.model_versions.c.version, sa.String)
    return sa.select(t.jobs, ref.label("model")).select_from(
        t.jobs.outerjoin(
            t.model_versions, t.model_versions.c.id == t.jobs.c.model_version_id
        ).outerjoin(t.models, t.models.c.id == t.model_versions.c.model_id)
    )


def _to_job(row: Any) -> Job:
    return Job(
        id=row.id,
        kind=row.kind,
        status=row.status,
        model=row.model,
        model_version_id=row.model_version_id,
        params=dict(row.params or {}),
        inputs=dict(row.inputs or {}),
        outputs=dict(row.outputs or {}),
        counts=dict(row.counts or {}),
        error=row.error,
        started_at=_utc(row.started_at),
        ended_at=None if row.ended_at is None else _utc(row.ended_at),
        created_by=row.created_by,
    )


def list_jobs(store: Store, *, kind: str | None = None, limit: int = LIST_LIMIT) -> list[Job]:
    """The newest jobs first (ids sort by creation time)."""
    if limit < 1:
        raise InvalidInput(f"--limit must be 1 or more; got {limit}.")
    query = _select().order_by(t.jobs.c.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(t.jobs.c.kind == kind)
    with store.read() as conn:
        return [_to_job(row) for row in conn.execute(query)]


def get_job(store: Store, job_id: str) -> Job:
    """One job by id (or a unique prefix of it); raises ``NotFound``.

    A blank id is refused as such: as a prefix it matches every job, and "matches more than one
    job; give more of it" would not say what is wrong.
    """
    if not job_id.strip():
        raise InvalidInput(f"{job_id!r} is not a job id; `mloop jobs ls` lists them.")
    with store.read() as conn:
        rows = conn.execute(
            _select().where(t.jobs.c.id.startswith(job_id, autoescape=True)).limit(2)
        ).all()
    if len(rows) == 1 and job_id:
        return _to_job(rows[0])
    if len(rows) > 1:
        raise InvalidInput(f"Job id {job_id!r} matches more than one job; give more of it.")
    raise NotFound(f"No job {job_id!r}; `mloop jobs ls` lists them.")
