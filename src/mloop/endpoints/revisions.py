"""Endpoint revisions as typed records: what one revision serves, and reading them back.

A revision is immutable (the table refuses UPDATE and DELETE): it names up to three model
versions (primary, canary with its traffic weight, shadow), the alias each one follows if any,
the runtime, and who wrote it, when and why. The ``endpoints`` row only points at the live
revision and the staged one; this module reads both kinds of row and appends revisions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mloop.ids import new_id
from mloop.store import tables as t

ROLES = ("primary", "canary", "shadow")
RUNTIMES = ("python", "onnx")


@dataclass(frozen=True)
class ModelSlot:
    """One model an endpoint serves: a registered version, and the alias it follows (if any)."""

    version_id: str
    model: str
    version: int
    alias: str | None
    artifact_hash: str

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    @property
    def follows(self) -> str | None:
        """``NAME@ALIAS`` when this slot follows an alias."""
        return None if self.alias is None else f"{self.model}@{self.alias}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "ref": self.ref,
            "model": self.model,
            "version": self.version,
            "alias": self.alias,
            "follows": self.follows,
            "version_id": self.version_id,
        }


@dataclass(frozen=True)
class Revision:
    """One immutable revision of an endpoint; ``staged`` ones wait beside the live one."""

    id: str
    endpoint: str
    number: int
    primary: ModelSlot
    canary: ModelSlot | None
    canary_weight: int | None
    shadow: ModelSlot | None
    runtime: str
    staged: bool
    action: str
    reason: str | None
    source_revision: int | None
    created_at: dt.datetime
    created_by: str

    @property
    def traffic(self) -> dict[str, int]:
        """Share of requests per role, in percent (the shadow sees a copy of every request)."""
        if self.canary is None or self.canary_weight is None:
            return {"primary": 100}
        return {"primary": 100 - self.canary_weight, "canary": self.canary_weight}

    def slots(self) -> dict[str, ModelSlot]:
        found = {"primary": self.primary, "canary": self.canary, "shadow": self.shadow}
        return {role: slot for role, slot in found.items() if slot is not None}

    def beside_primary(self, version_id: str) -> ModelSlot | None:
        """The canary or shadow slot serving ``version_id`` (a rollout's candidate), or None."""
        return next(
            (s for s in (self.canary, self.shadow) if s is not None and s.version_id == version_id),
            None,
        )

    def describe(self) -> str:
        """One line: ``churn@2 (champion)``, then the canary's share and the shadow."""

        def named(slot: ModelSlot) -> str:
            return slot.ref + (f" ({slot.alias})" if slot.alias else "")

        text = named(self.primary)
        if self.canary is not None:
            text += f" + canary {named(self.canary)} {self.canary_weight}%"
        if self.shadow is not None:
            text += f" + shadow {named(self.shadow)}"
        return text + (" [onnx]" if self.runtime == "onnx" else "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "number": self.number,
            "primary": self.primary.to_dict(),
            "canary": None if self.canary is None else self.canary.to_dict(),
            "canary_weight": self.canary_weight,
            "shadow": None if self.shadow is None else self.shadow.to_dict(),
            "traffic": self.traffic,
            "runtime": self.runtime,
            "staged": self.staged,
            "action": self.action,
            "reason": self.reason,
            "source_revision": self.source_revision,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "id": self.id,
        }


@dataclass(frozen=True)
class EndpointState:
    """An endpoint now: its live revision and the one staged beside it (either may be None)."""

    id: str
    name: str
    live: Revision | None
    staged: Revision | None
    created_at: dt.datetime
    created_by: str
    updated_at: dt.datetime
    deleted_at: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "live": None if self.live is None else self.live.to_dict(),
            "staged": None if self.staged is None else self.staged.to_dict(),
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
            "updated_at": self.updated_at.isoformat(),
            "deleted_at": None if self.deleted_at is None else self.deleted_at.isoformat(),
        }


def _slots_query() -> sa.Select[Any]:
    """Revisions joined to the name and number of each version they serve (one query)."""
    r = t.endpoint_revisions
    joined: Any = r.join(t.endpoints, t.endpoints.c.id == r.c.endpoint_id)
    columns: list[Any] = [r, t.endpoints.c.name.label("endpoint_name")]
    for role in ROLES:
        mv = t.model_versions.alias(f"{role}_mv")
        m = t.models.alias(f"{role}_m")
        on = mv.c.id == getattr(r.c, f"{role}_version_id")
        joined = joined.outerjoin(mv, on).outerjoin(m, m.c.id == mv.c.model_id)
        columns += [
            m.c.name.label(f"{role}_model"),
            mv.c.version.label(f"{role}_number"),
            mv.c.artifact_hash.label(f"{role}_hash"),
        ]
    return sa.select(*columns).select_from(joined)


def utc(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive datetimes for the UTC ones stored; PostgreSQL aware ones."""
    if value is None:
        return None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _when(value: dt.datetime) -> dt.datetime:
    found = utc(value)
    assert found is not None
    return found


def _slot(row: Any, role: str) -> ModelSlot | None:
    version_id = getattr(row, f"{role}_version_id")
    if version_id is None:
        return None
    return ModelSlot(
        version_id=version_id,
        model=getattr(row, f"{role}_model"),
        version=int(getattr(row, f"{role}_number")),
        alias=getattr(row, f"{role}_alias"),
        artifact_hash=getattr(row, f"{role}_hash"),
    )


def _to_revision(row: Any) -> Revision:
    primary = _slot(row, "primary")
    assert primary is not None  # the column is NOT NULL
    return Revision(
        id=row.id,
        endpoint=row.endpoint_name,
        number=row.number,
        primary=primary,
        canary=_slot(row, "canary"),
        canary_weight=row.canary_weight,
        shadow=_slot(row, "shadow"),
        runtime=row.runtime,
        staged=bool(row.staged),
        action=row.action,
        reason=row.reason,
        source_revision=row.source_revision,
        created_at=_when(row.created_at),
        created_by=row.created_by,
    )


def read_revisions(conn: sa.Connection, *where: Any) -> list[Revision]:
    """Revisions matching ``where`` (on ``endpoint_revisions`` columns), oldest first."""
    r = t.endpoint_revisions
    rows = conn.execute(_slots_query().where(*where).order_by(r.c.endpoint_id, r.c.number))
    return [_to_revision(row) for row in rows]


def revisions_by_id(conn: sa.Connection, ids: Iterable[str | None]) -> dict[str, Revision]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {rev.id: rev for rev in read_revisions(conn, t.endpoint_revisions.c.id.in_(wanted))}


def endpoint_states(conn: sa.Connection, *where: Any) -> list[EndpointState]:
    """Endpoints matching ``where`` (on ``endpoints`` columns) with their live and staged revisions."""
    e = t.endpoints
    rows = list(conn.execute(sa.select(e).where(*where).order_by(e.c.name)))
    revisions = revisions_by_id(
        conn, [i for row in rows for i in (row.live_revision_id, row.staged_revision_id)]
    )
    return [
        EndpointState(
            id=row.id,
            name=row.name,
            live=revisions.get(row.live_revision_id) if row.live_revision_id else None,
            staged=revisions.get(row.staged_revision_id) if row.staged_revision_id else None,
            created_at=_when(row.created_at),
            created_by=row.created_by,
            updated_at=_when(row.updated_at),
            deleted_at=utc(row.deleted_at),
        )
        for row in rows
    ]


@dataclass(frozen=True)
class NewRevision:
    """What a change wants written; ``append`` numbers it and stores it."""

    primary: ModelSlot
    canary: ModelSlot | None
    canary_weight: int | None
    shadow: ModelSlot | None
    runtime: str
    staged: bool
    action: str
    reason: str | None
    source_revision: int | None = None


def append(
    conn: sa.Connection,
    *,
    endpoint_id: str,
    endpoint: str,
    number: int,
    new: NewRevision,
    actor: str,
    now: dt.datetime,
) -> Revision:
    """Insert revision ``number`` (the caller locked the endpoint and chose the number)."""
    revision_id = new_id()

    def ids(role: str, slot: ModelSlot | None) -> dict[str, Any]:
        return {
            f"{role}_version_id": None if slot is None else slot.version_id,
            f"{role}_alias": None if slot is None else slot.alias,
        }

    conn.execute(
        t.endpoint_revisions.insert().values(
            id=revision_id,
            endpoint_id=endpoint_id,
            number=number,
            **ids("primary", new.primary),
            **ids("canary", new.canary),
            canary_weight=new.canary_weight if new.canary is not None else None,
            **ids("shadow", new.shadow),
            runtime=new.runtime,
            staged=new.staged,
            action=new.action,
            reason=new.reason,
            source_revision=new.source_revision,
            created_at=now,
            created_by=actor,
        )
    )
    return Revision(
        id=revision_id,
        endpoint=endpoint,
        number=number,
        primary=new.primary,
        canary=new.canary,
        canary_weight=new.canary_weight if new.canary is not None else None,
        shadow=new.shadow,
        runtime=new.runtime,
        staged=new.staged,
        action=new.action,
        reason=new.reason,
        source_revision=new.source_revision,
        created_at=now,
        created_by=actor,
    )
