"""Human approvals: a named person signs off a model version, with a note, once per person."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from mloop import audit
from mloop.errors import AlreadyExists, InvalidInput
from mloop.ids import new_id
from mloop.registry.versions import ModelVersion, check_name, resolve_in
from mloop.store import Store
from mloop.store import tables as t


@dataclass(frozen=True)
class Approval:
    id: str
    model: str
    version: int
    approver: str
    note: str
    created_at: dt.datetime


MAX_APPROVER = 255  # approvals.approver is VARCHAR(255); PostgreSQL would refuse a longer one


def approve(store: Store, *, name: str, version: int | str, approver: str, note: str) -> Approval:
    """Record an approval; raises ``InvalidInput`` without a note, ``AlreadyExists`` on a repeat."""
    if not note.strip():
        raise InvalidInput('An approval needs --note "…" saying what was reviewed.')
    approver = approver.strip()
    if not approver:
        raise InvalidInput(
            "An approval needs a name: pass --by NAME or set [user] name in mloop.toml."
        )
    if len(approver) > MAX_APPROVER:
        raise InvalidInput(
            f"Approver name {approver[:20]!r}… is {len(approver)} characters; at most {MAX_APPROVER}."
        )
    check_name(name)
    with store.transaction() as conn:
        candidate = resolve_in(conn, f"{name}@{version}")
        repeat = conn.execute(
            sa.select(t.approvals.c.id).where(
                t.approvals.c.model_version_id == candidate.id, t.approvals.c.approver == approver
            )
        ).first()
        if repeat:
            raise AlreadyExists(f"{approver} already approved {candidate.ref}.")
        now = dt.datetime.now(dt.UTC)
        approval_id = new_id()
        conn.execute(
            t.approvals.insert().values(
                id=approval_id,
                model_version_id=candidate.id,
                approver=approver,
                note=note,
                created_at=now,
            )
        )
        audit.record(
            conn, actor=approver, action="approve", model=name, subject=candidate.ref, reason=note
        )
    return Approval(approval_id, name, candidate.version, approver, note, now)


def list_approvals(store: Store, version: ModelVersion) -> list[Approval]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.approvals)
            .where(t.approvals.c.model_version_id == version.id)
            .order_by(t.approvals.c.created_at)
        ).all()
    return [
        Approval(r.id, version.name, version.version, r.approver, r.note, r.created_at)
        for r in rows
    ]
