"""Alias following: an endpoint deployed as ``NAME@ALIAS`` serves whatever the alias holds.

When ``models promote`` or ``models rollback`` moves an alias, ``follow_aliases`` writes a new
revision (action ``follow``) for each live or staged revision whose followed alias now points at
another version, with the move as its reason ("churn@champion moved 3 → 4: better AUC"). The
CLI calls it right after moving an alias and the server on its poll loop; the registry itself
knows nothing of endpoints.

Cheap when nothing moved (three reads), so a server can call it twice a second. Idempotent and
safe to call concurrently: each endpoint is re-checked under its row lock before writing, so
of two callers racing on one move, the second finds the revision already following and writes
nothing. An alias that was removed leaves the endpoint on the version it serves. A revision on
the ONNX runtime whose new holder has no checked export falls back to the python runtime, said
in the reason: the alias promises the new holder, and serving the old one silently would break
that promise.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sqlalchemy as sa

from mloop.endpoints.revisions import (
    EndpointState,
    ModelSlot,
    NewRevision,
    Revision,
    endpoint_states,
)
from mloop.endpoints.writing import locked_endpoint, write_revision
from mloop.registry.exports import exports_in
from mloop.store import Store
from mloop.store import tables as t

Holders = dict[tuple[str, str], str]


def _holders(conn: sa.Connection, models: set[str]) -> Holders:
    """(model name, alias) → the version id the alias holds, for ``models``."""
    if not models:
        return {}
    rows = conn.execute(
        sa.select(t.models.c.name, t.aliases.c.alias, t.aliases.c.model_version_id)
        .join(t.models, t.models.c.id == t.aliases.c.model_id)
        .where(t.models.c.name.in_(sorted(models)))
    )
    return {(name, alias): version_id for name, alias, version_id in rows}


def _followed(states: list[EndpointState]) -> set[str]:
    return {
        slot.model
        for state in states
        for revision in (state.live, state.staged)
        if revision is not None
        for slot in revision.slots().values()
        if slot.alias is not None
    }


def _moved(revision: Revision | None, holders: Holders) -> dict[str, str]:
    """Role → new holder id, for each slot of ``revision`` whose alias now holds another version."""
    if revision is None:
        return {}
    moved: dict[str, str] = {}
    for role, slot in revision.slots().items():
        if slot.alias is None:
            continue
        holder = holders.get((slot.model, slot.alias))
        if holder is not None and holder != slot.version_id:
            moved[role] = holder
    return moved


def _new_slot(conn: sa.Connection, slot: ModelSlot, holder: str) -> ModelSlot:
    row = conn.execute(
        sa.select(t.model_versions.c.version, t.model_versions.c.artifact_hash).where(
            t.model_versions.c.id == holder
        )
    ).one()
    return replace(
        slot, version_id=holder, version=int(row.version), artifact_hash=row.artifact_hash
    )


def _move_reason(conn: sa.Connection, old: ModelSlot, new: ModelSlot) -> str:
    m = t.alias_moves
    move: Any = conn.execute(
        sa.select(m.c.action, m.c.actor, m.c.reason)
        .join(t.models, t.models.c.id == m.c.model_id)
        .where(
            t.models.c.name == old.model,
            m.c.alias == old.alias,
            m.c.to_version_id == new.version_id,
        )
        .order_by(m.c.created_at.desc(), m.c.id.desc())
        .limit(1)
    ).first()
    text = f"{old.model}@{old.alias} moved {old.version} → {new.version}"
    if move is None:
        return text
    return text + (f": {move.reason}" if move.reason else f" ({move.action} by {move.actor})")


def _follow(conn: sa.Connection, revision: Revision, moved: dict[str, str]) -> NewRevision:
    slots = revision.slots()
    reasons = []
    for role, holder in moved.items():
        new = _new_slot(conn, slots[role], holder)
        reasons.append(_move_reason(conn, slots[role], new))
        slots[role] = new
    for role in ("canary", "shadow"):
        same = slots.get(role)
        if same is not None and same.version_id == slots["primary"].version_id:
            reasons.append(f"the {role} is now the primary's version {same.ref} too")
    runtime = revision.runtime
    if runtime == "onnx":
        exported = exports_in(conn, [s.version_id for s in slots.values()], "onnx")
        missing = [s.ref for s in slots.values() if s.version_id not in exported]
        if missing:
            runtime = "python"
            reasons.append(f"no checked ONNX export of {', '.join(missing)}, so served by python")
    return NewRevision(
        primary=slots["primary"],
        canary=slots.get("canary"),
        canary_weight=revision.canary_weight,
        shadow=slots.get("shadow"),
        runtime=runtime,
        staged=revision.staged,
        action="follow",
        reason="; ".join(reasons),
        source_revision=revision.number,
    )


def follow_aliases(store: Store, actor: str) -> list[Revision]:
    """Write a ``follow`` revision for every live or staged revision whose alias moved.

    Returns the revisions written (none when every endpoint already serves its aliases' holders).
    """
    with store.read() as conn:
        states = endpoint_states(conn, t.endpoints.c.deleted_at.is_(None))
        holders = _holders(conn, _followed(states))
    stale = [s.name for s in states if _moved(s.live, holders) or _moved(s.staged, holders)]
    written: list[Revision] = []
    for name in stale:
        with store.transaction() as conn:
            row = locked_endpoint(conn, name, deleted_ok=True)
            if row.deleted_at is not None:
                continue
            (state,) = endpoint_states(conn, t.endpoints.c.id == row.id)
            holders = _holders(conn, _followed([state]))
            for revision in (state.live, state.staged):
                moved = _moved(revision, holders)
                if revision is None or not moved:
                    continue
                new = _follow(conn, revision, moved)
                previous = state.live if revision.staged else revision
                written.append(write_revision(conn, row, new, actor=actor, previous=previous))
    return written
