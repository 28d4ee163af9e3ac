"""Retraining jobs: rows in ``jobs`` (kind ``retrain``) with leases, so no job runs twice at once.

Life of a job::

    queued ──claim──▶ running ──▶ succeeded | rejected | failed
       ▲                 │  lease lapsed (the agent died): interrupted, then claimed again once;
       └── released ─────┘  a second lapse ends it failed, with the reason
    coalesced: a trigger that came while another job was active (or within the cool-down);
               it names the job it joined and never runs

Every change is one conditional ``UPDATE … RETURNING`` inside the store's write transaction,
decided by the rows it touched: SQLite serializes writers (``BEGIN IMMEDIATE``) and PostgreSQL
re-checks the ``WHERE`` of a row another transaction just changed, so two agents (or two hosts)
claiming one job get one winner on both. Recording a trigger takes the endpoint's lock (an
advisory lock on PostgreSQL) so a storm of triggers starts one job.

A running job's ``outputs`` grows as it works (the dataset version, runs, model versions, the
verdict, the rollout and revisions), each written when it is made, so a crash loses nothing.
While its rollout is watched a job stays ``running`` with no lease: any agent may check it.
"""

from __future__ import annotations

import datetime as dt
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from mloop.errors import InvalidInput, NotFound
from mloop.ids import new_id
from mloop.store import Store
from mloop.store import tables as t

KIND = "retrain"
Status = Literal["queued", "running", "interrupted", "succeeded", "failed", "rejected", "coalesced"]
ACTIVE = ("queued", "running", "interrupted")
ENDED = ("succeeded", "failed", "rejected")
COOLING = ("succeeded", "rejected")  # a failed job does not hold the next one off
MAX_ATTEMPTS = 2  # the first run and one retry after an interruption


def utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RetrainJob:
    id: str
    endpoint: str
    status: Status
    trigger: dict[str, Any]
    attempts: int
    params: dict[str, Any]
    outputs: dict[str, Any]
    joined_job_id: str | None
    reason: str | None
    lease_owner: str | None
    lease_expires_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime | None
    ended_at: dt.datetime | None
    created_by: str
    model_version_id: str | None

    def model_versions_made(self) -> list[str]:
        """``NAME@N`` of every version this job registered, in order."""
        return list(self.outputs.get("model_versions", []))

    @property
    def watching(self) -> bool:
        """Running with its rollout being watched (no lease: any agent drives it)."""
        return self.status == "running" and self.lease_owner is None

    def to_dict(self) -> dict[str, Any]:
        when = {
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "ended_at": self.ended_at,
            "lease_expires_at": self.lease_expires_at,
        }
        return {
            "id": self.id,
            "kind": KIND,
            "endpoint": self.endpoint,
            "trigger": self.trigger,
            "status": self.status,
            "attempts": self.attempts,
            "reason": self.reason,
            "joined_job_id": self.joined_job_id,
            "dataset": self.outputs.get("dataset"),
            "runs": list(self.outputs.get("runs", [])),
            "model_versions": list(self.outputs.get("model_versions", [])),
            "verdict_id": self.outputs.get("verdict_id"),
            "rollout_id": self.outputs.get("rollout_id"),
            "revisions": list(self.outputs.get("revisions", [])),
            "steps": list(self.outputs.get("steps", [])),
            "interruptions": list(self.outputs.get("interruptions", [])),
            "lease_owner": self.lease_owner,
            **{k: None if v is None else utc(v).isoformat() for k, v in when.items()},
            "created_by": self.created_by,
            "policy": self.params,
        }


def _to_job(row: Any) -> RetrainJob:
    return RetrainJob(
        id=row.id,
        endpoint=row.endpoint,
        status=row.status,
        trigger=dict(row.trigger or {}),
        attempts=int(row.attempts or 0),
        params=dict(row.params or {}),
        outputs=dict(row.outputs or {}),
        joined_job_id=row.joined_job_id,
        reason=row.reason,
        lease_owner=row.lease_owner,
        lease_expires_at=None if row.lease_expires_at is None else utc(row.lease_expires_at),
        created_at=utc(row.started_at),
        updated_at=None if row.updated_at is None else utc(row.updated_at),
        ended_at=None if row.ended_at is None else utc(row.ended_at),
        created_by=row.created_by,
        model_version_id=row.model_version_id,
    )


def _retrain() -> Any:
    return t.jobs.c.kind == KIND


def lock_endpoint(conn: sa.Connection, endpoint: str) -> None:
    """Serialize trigger decisions for one endpoint until the transaction ends.

    SQLite write transactions are already exclusive; on PostgreSQL an advisory lock keyed by the
    endpoint's name (no row need exist yet for a first trigger)."""
    if conn.dialect.name == "postgresql":
        key = zlib.crc32(f"mloop.retrain:{endpoint}".encode())
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def read_job(conn: sa.Connection, job_id: str) -> RetrainJob:
    row = conn.execute(sa.select(t.jobs).where(t.jobs.c.id == job_id, _retrain())).first()
    if row is None:
        raise NotFound(f"No retraining job {job_id!r}; `mloop jobs ls --kind retrain` lists them.")
    return _to_job(row)


def get_job(store: Store, job_id: str) -> RetrainJob:
    with store.read() as conn:
        return read_job(conn, job_id)


def list_jobs(
    store: Store, *, endpoint: str | None = None, status: tuple[str, ...] | None = None
) -> list[RetrainJob]:
    """Retraining jobs, newest first."""
    query = sa.select(t.jobs).where(_retrain()).order_by(t.jobs.c.id.desc())
    if endpoint is not None:
        query = query.where(t.jobs.c.endpoint == endpoint)
    if status is not None:
        query = query.where(t.jobs.c.status.in_(status))
    with store.read() as conn:
        return [_to_job(row) for row in conn.execute(query)]


@dataclass(frozen=True)
class Recorded:
    """What a trigger became: a queued job, or a coalesced one naming the job it joined."""

    job: RetrainJob
    joined: RetrainJob | None

    @property
    def coalesced(self) -> bool:
        return self.job.status == "coalesced"


def _blocker(
    conn: sa.Connection, endpoint: str, cooldown: dt.timedelta, now: dt.datetime
) -> tuple[str | None, str] | None:
    """The job (or rollout) that holds a new trigger for ``endpoint`` off, and why."""
    active = conn.execute(
        sa.select(t.jobs)
        .where(_retrain(), t.jobs.c.endpoint == endpoint, t.jobs.c.status.in_(ACTIVE))
        .order_by(t.jobs.c.id)
        .limit(1)
    ).first()
    if active is not None:
        doing = (
            "watching its rollout"
            if active.lease_owner is None and active.status == "running"
            else active.status
        )
        return active.id, f"joined job {active.id} ({doing})"
    watched = conn.execute(
        sa.select(t.rollouts.c.id, t.rollouts.c.job_id)
        .where(t.rollouts.c.endpoint == endpoint, t.rollouts.c.status == "watching")
        .limit(1)
    ).first()
    if watched is not None:
        return watched.job_id, f"rollout {watched.id} of {endpoint!r} is being watched"
    if cooldown > dt.timedelta(0):
        recent = conn.execute(
            sa.select(t.jobs)
            .where(
                _retrain(),
                t.jobs.c.endpoint == endpoint,
                t.jobs.c.status.in_(COOLING),
                t.jobs.c.ended_at > now - cooldown,
            )
            .order_by(t.jobs.c.ended_at.desc())
            .limit(1)
        ).first()
        if recent is not None:
            until = utc(recent.ended_at) + cooldown
            return recent.id, (
                f"within the cool-down of job {recent.id} ({recent.status} at "
                f"{utc(recent.ended_at):%H:%M:%S}; next retraining from {until:%Y-%m-%d %H:%M:%S} UTC)"
            )
    return None


def record_trigger_in(
    conn: sa.Connection,
    *,
    endpoint: str,
    trigger: Mapping[str, Any],
    cooldown: dt.timedelta,
    policy: Mapping[str, Any],
    actor: str,
    now: dt.datetime | None = None,
) -> Recorded:
    """Queue a retraining of ``endpoint``, or record the trigger as coalesced into the job that
    holds it off (one active per endpoint, a watched rollout counting, or the cool-down)."""
    now = now or now_utc()
    lock_endpoint(conn, endpoint)
    blocker = _blocker(conn, endpoint, cooldown, now)
    job_id = new_id()
    values: dict[str, Any] = {
        "id": job_id,
        "kind": KIND,
        "status": "queued",
        "model_version_id": None,
        "params": dict(policy),
        "inputs": {},
        "outputs": {},
        "counts": {},
        "error": None,
        "started_at": now,
        "ended_at": None,
        "created_by": actor,
        "endpoint": endpoint,
        "trigger": dict(trigger),
        "attempts": 0,
        "updated_at": now,
    }
    joined = None
    if blocker is not None:
        joined_id, reason = blocker
        values.update(status="coalesced", joined_job_id=joined_id, reason=reason, ended_at=now)
        if joined_id is not None:
            joined = read_job(conn, joined_id)
    conn.execute(t.jobs.insert().values(**values))
    return Recorded(read_job(conn, job_id), joined)


def record_trigger(
    store: Store,
    *,
    endpoint: str,
    trigger: Mapping[str, Any],
    cooldown: dt.timedelta,
    policy: Mapping[str, Any],
    actor: str,
    now: dt.datetime | None = None,
) -> Recorded:
    """``record_trigger_in`` in a transaction of its own."""
    with store.transaction() as conn:
        return record_trigger_in(
            conn,
            endpoint=endpoint,
            trigger=trigger,
            cooldown=cooldown,
            policy=policy,
            actor=actor,
            now=now,
        )


def claim(store: Store, job_id: str, *, owner: str, lease: float) -> RetrainJob | None:
    """Take ``job_id`` (queued or interrupted) with a lease for ``owner``; None when another
    agent took it first. Each claim counts as an attempt."""
    now = now_utc()
    with store.transaction() as conn:
        won = conn.execute(
            t.jobs.update()
            .where(
                t.jobs.c.id == job_id, _retrain(), t.jobs.c.status.in_(("queued", "interrupted"))
            )
            .values(
                status="running",
                attempts=t.jobs.c.attempts + 1,
                lease_owner=owner,
                lease_expires_at=now + dt.timedelta(seconds=lease),
                updated_at=now,
            )
            .returning(t.jobs.c.id)
        ).first()
        return None if won is None else read_job(conn, job_id)


def claimable(store: Store) -> list[RetrainJob]:
    """Jobs waiting for an agent, oldest first."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.jobs)
            .where(_retrain(), t.jobs.c.status.in_(("queued", "interrupted")))
            .order_by(t.jobs.c.id)
        )
        return [_to_job(row) for row in rows]


def renew(store: Store, job_id: str, *, owner: str, lease: float) -> bool:
    """Extend ``owner``'s lease; False when the lease is no longer its own (it lapsed and was
    taken over), so the work must stop."""
    now = now_utc()
    with store.transaction() as conn:
        kept = conn.execute(
            t.jobs.update()
            .where(
                t.jobs.c.id == job_id, t.jobs.c.status == "running", t.jobs.c.lease_owner == owner
            )
            .values(lease_expires_at=now + dt.timedelta(seconds=lease), updated_at=now)
            .returning(t.jobs.c.id)
        ).first()
    return kept is not None


def record_outputs(
    store: Store,
    job_id: str,
    *,
    owner: str | None,
    add: Mapping[str, Any],
    model_version_id: str | None = None,
) -> None:
    """Merge ``add`` into the job's outputs (lists are appended to) as soon as a step made them."""
    with store.transaction() as conn:
        row = conn.execute(
            sa.select(t.jobs.c.outputs, t.jobs.c.lease_owner).where(t.jobs.c.id == job_id)
        ).first()
        if row is None or (owner is not None and row.lease_owner != owner):
            raise InvalidInput(f"Job {job_id} is no longer held by this agent; its work stops.")
        outputs = dict(row.outputs or {})
        for key, value in add.items():
            if isinstance(value, list):
                outputs[key] = [*outputs.get(key, []), *value]
            else:
                outputs[key] = value
        values: dict[str, Any] = {"outputs": outputs, "updated_at": now_utc()}
        if model_version_id is not None:
            values["model_version_id"] = model_version_id
        conn.execute(t.jobs.update().where(t.jobs.c.id == job_id).values(**values))


def watch(store: Store, job_id: str, *, owner: str, reason: str) -> None:
    """Let go of the lease once the rollout is live: the job stays running while it is watched."""
    with store.transaction() as conn:
        conn.execute(
            t.jobs.update()
            .where(t.jobs.c.id == job_id, t.jobs.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None, reason=reason, updated_at=now_utc())
        )


def finish(
    store: Store,
    job_id: str,
    *,
    status: Literal["succeeded", "failed", "rejected"],
    reason: str,
    owner: str | None,
) -> bool:
    """End a running job once; ``owner`` None for a watched job. False when someone else ended
    it (or took its lease) first."""
    now = now_utc()
    holder = t.jobs.c.lease_owner.is_(None) if owner is None else t.jobs.c.lease_owner == owner
    with store.transaction() as conn:
        done = conn.execute(
            t.jobs.update()
            .where(t.jobs.c.id == job_id, t.jobs.c.status == "running", holder)
            .values(
                status=status,
                reason=reason,
                error=reason if status == "failed" else None,
                ended_at=now,
                updated_at=now,
                lease_owner=None,
                lease_expires_at=None,
            )
            .returning(t.jobs.c.id)
        ).first()
    return done is not None


def release(store: Store, job_id: str, *, owner: str, reason: str) -> bool:
    """Give a job back to the queue (the agent was asked to stop): not an attempt that failed."""
    with store.transaction() as conn:
        done = conn.execute(
            t.jobs.update()
            .where(
                t.jobs.c.id == job_id, t.jobs.c.status == "running", t.jobs.c.lease_owner == owner
            )
            .values(
                status="queued",
                attempts=t.jobs.c.attempts - 1,
                reason=reason,
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now_utc(),
            )
            .returning(t.jobs.c.id)
        ).first()
    return done is not None


def reclaim_lapsed(store: Store, *, now: dt.datetime | None = None) -> list[RetrainJob]:
    """Jobs whose agent stopped renewing: interrupted (to be retried once), or failed when they
    already were retried. Returns the jobs as they are now."""
    now = now or now_utc()
    with store.transaction() as conn:
        lapsed = conn.execute(
            sa.select(t.jobs).where(
                _retrain(),
                t.jobs.c.status == "running",
                t.jobs.c.lease_owner.is_not(None),
                t.jobs.c.lease_expires_at < now,
            )
        ).all()
        changed = []
        for row in lapsed:
            expired = utc(row.lease_expires_at)
            gave_up = int(row.attempts or 0) >= MAX_ATTEMPTS
            if gave_up:
                reason = (
                    f"interrupted twice: the lease of {row.lease_owner} lapsed at {expired:%H:%M:%S} "
                    f"UTC on attempt {row.attempts} of {MAX_ATTEMPTS}; not retried again "
                    f"(`mloop retrain {row.endpoint}` starts a new job)"
                )
            else:
                reason = (
                    f"interrupted: the lease of {row.lease_owner} lapsed at {expired:%H:%M:%S} UTC "
                    "(its agent stopped mid-job); retried once"
                )
            done = conn.execute(
                t.jobs.update()
                .where(
                    t.jobs.c.id == row.id,
                    t.jobs.c.status == "running",
                    t.jobs.c.lease_owner == row.lease_owner,
                    t.jobs.c.lease_expires_at < now,
                )
                .values(
                    status="failed" if gave_up else "interrupted",
                    outputs={
                        **dict(row.outputs or {}),
                        "interruptions": [*(row.outputs or {}).get("interruptions", []), reason],
                    },
                    reason=reason,
                    error=reason if gave_up else None,
                    ended_at=now if gave_up else None,
                    lease_owner=None,
                    lease_expires_at=None,
                    updated_at=now,
                )
                .returning(t.jobs.c.id)
            ).first()
            if done is not None:
                changed.append(read_job(conn, row.id))
    return changed


def watched(store: Store) -> list[RetrainJob]:
    """Running jobs whose rollout is being watched."""
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.jobs).where(
                _retrain(), t.jobs.c.status == "running", t.jobs.c.lease_owner.is_(None)
            )
        )
        return [_to_job(row) for row in rows]


def jobs_by_id(store: Store, ids: list[str]) -> dict[str, RetrainJob]:
    """The retraining jobs among ``ids`` (a listing of every kind shows them in full)."""
    if not ids:
        return {}
    with store.read() as conn:
        rows = conn.execute(sa.select(t.jobs).where(_retrain(), t.jobs.c.id.in_(ids)))
        return {row.id: _to_job(row) for row in rows}


def leasing_agents(conn: sa.Connection, now: dt.datetime) -> list[str]:
    """Agents holding a live lease: busy with a long job, they are alive between their ticks."""
    rows = conn.execute(
        sa.select(t.jobs.c.lease_owner)
        .where(
            _retrain(),
            t.jobs.c.status == "running",
            t.jobs.c.lease_owner.startswith("agent@", autoescape=True),
            t.jobs.c.lease_expires_at > now,
        )
        .distinct()
    )
    return [str(row.lease_owner) for row in rows]
