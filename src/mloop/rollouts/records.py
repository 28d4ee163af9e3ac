"""Rollouts as typed records: one row of ``rollouts`` with its versions named, and reading them.

A row is written when a rollout starts (status ``watching``), its ``figures`` refreshed while it
is watched, and it is decided once: ``promoted`` or ``rolled_back``, with the revision that did
it, the reason and the figures. The decision itself is also a ``gate_verdicts`` row on the
candidate (gate ``guardrails``) and an audit entry, which are append-only.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from mloop.endpoints.revisions import utc
from mloop.errors import InvalidInput, NotFound
from mloop.store import tables as t

WATCHING, PROMOTED, ROLLED_BACK = "watching", "promoted", "rolled_back"
STATUSES = (WATCHING, PROMOTED, ROLLED_BACK)


@dataclass(frozen=True)
class Rollout:
    """A candidate watched beside its champion until its guardrails decide."""

    id: str
    job_id: str | None
    endpoint: str
    strategy: str
    candidate: str  # NAME@N
    champion: str  # NAME@N
    status: str  # watching | promoted | rolled_back
    figures: dict[str, Any]
    reason: str | None
    started_at: dt.datetime
    decided_at: dt.datetime | None
    started_revision: int | None
    decided_revision: int | None
    weight: int | None
    min_sample: int
    watch_seconds: float
    guardrails: tuple[str, ...]
    candidate_version_id: str
    champion_version_id: str
    created_by: str
    gate_verdict_id: str | None = None  # the gate verdict that let the candidate in, if given
    verdict_id: str | None = None  # the guardrails verdict stored on the candidate, once decided
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def due_at(self) -> dt.datetime:
        """When the verdict is due at the latest."""
        return self.started_at + dt.timedelta(seconds=self.watch_seconds)

    @property
    def decided(self) -> bool:
        return self.status != WATCHING

    @property
    def requests(self) -> int:
        """Requests the candidate answered, as last measured."""
        return int(self.figures.get("requests") or 0)

    def to_dict(self) -> dict[str, Any]:
        def stamp(value: dt.datetime | None) -> str | None:
            return None if value is None else value.isoformat()

        return {
            "id": self.id,
            "job_id": self.job_id,
            "endpoint": self.endpoint,
            "strategy": self.strategy,
            "candidate": self.candidate,
            "champion": self.champion,
            "status": self.status,
            "reason": self.reason,
            "weight": self.weight,
            "min_sample": self.min_sample,
            "watch_seconds": self.watch_seconds,
            "guardrails": list(self.guardrails),
            "requests": self.requests,
            "figures": self.figures,
            "started_at": stamp(self.started_at),
            "due_at": stamp(self.due_at),
            "decided_at": stamp(self.decided_at),
            "started_revision": self.started_revision,
            "decided_revision": self.decided_revision,
            "gate_verdict_id": self.gate_verdict_id,
            "verdict_id": self.verdict_id,
            "created_by": self.created_by,
        }


def _query() -> sa.Select[Any]:
    r = t.rollouts
    cand_v, champ_v = t.model_versions.alias("cand_v"), t.model_versions.alias("champ_v")
    cand_m, champ_m = t.models.alias("cand_m"), t.models.alias("champ_m")
    return (
        sa.select(
            r,
            cand_m.c.name.label("cand_name"),
            cand_v.c.version.label("cand_number"),
            champ_m.c.name.label("champ_name"),
            champ_v.c.version.label("champ_number"),
        )
        .join(cand_v, cand_v.c.id == r.c.candidate_version_id)
        .join(cand_m, cand_m.c.id == cand_v.c.model_id)
        .join(champ_v, champ_v.c.id == r.c.champion_version_id)
        .join(champ_m, champ_m.c.id == champ_v.c.model_id)
    )


def _to_rollout(row: Any) -> Rollout:
    figures = dict(row.figures or {})
    guardrails = row.guardrails
    listed = guardrails.get("guardrails", []) if isinstance(guardrails, dict) else guardrails
    started = utc(row.started_at)
    assert started is not None  # NOT NULL
    return Rollout(
        id=row.id,
        job_id=row.job_id,
        endpoint=row.endpoint,
        strategy=row.strategy,
        candidate=f"{row.cand_name}@{row.cand_number}",
        champion=f"{row.champ_name}@{row.champ_number}",
        status=row.status,
        figures=figures,
        reason=row.reason,
        started_at=started,
        decided_at=utc(row.decided_at),
        started_revision=row.started_revision,
        decided_revision=row.decided_revision,
        weight=row.weight,
        min_sample=int(row.min_sample),
        watch_seconds=float(row.watch_seconds),
        guardrails=tuple(str(g) for g in listed),
        candidate_version_id=row.candidate_version_id,
        champion_version_id=row.champion_version_id,
        created_by=row.created_by,
        gate_verdict_id=figures.get("gate_verdict_id"),
        verdict_id=figures.get("verdict_id"),
    )


def read_rollouts(conn: sa.Connection, *where: Any, limit: int | None = None) -> list[Rollout]:
    """Rollouts matching ``where`` (on ``rollouts`` columns), newest first."""
    r = t.rollouts
    query = _query().where(*where).order_by(r.c.started_at.desc(), r.c.id.desc())
    if limit is not None:
        query = query.limit(limit)
    return [_to_rollout(row) for row in conn.execute(query)]


def find_rollout(conn: sa.Connection, rollout_id: str) -> Rollout:
    """The rollout ``rollout_id`` names (its id or a unique prefix of it); ``NotFound`` else."""
    text = rollout_id.strip().lower()
    if not text or not text.isalnum():
        raise InvalidInput(f"{rollout_id!r} is not a rollout id; `mloop rollouts ls` lists them.")
    r = t.rollouts
    found = read_rollouts(conn, r.c.id == text) or read_rollouts(
        conn, r.c.id.startswith(text, autoescape=True), limit=2
    )
    if not found:
        raise NotFound(f"No rollout {rollout_id!r}; `mloop rollouts ls` lists them.")
    if len(found) > 1:
        raise InvalidInput(
            f"{rollout_id!r} starts more than one rollout id; give more of it "
            "(`mloop rollouts ls` lists them)."
        )
    return found[0]
