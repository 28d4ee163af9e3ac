"""Aliases (``champion``, ``challenger``, any name): moved in one transaction, every move recorded.

A move locks the model row first (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite write transactions
are already exclusive), then checks the alias still points where the caller last saw it, so two
processes promoting at once end with one winner and a history that matches the alias.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

import sqlalchemy as sa

from mloop import audit
from mloop.artifacts import ArtifactStore
from mloop.errors import AlreadyExists, InvalidInput, NotFound
from mloop.ids import new_id
from mloop.registry.loading import require_intact
from mloop.registry.versions import check_name, model_id_in, version_by_id
from mloop.store import Store
from mloop.store import tables as t
from mloop.store.sequences import lock_parent

ALIAS_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class AliasMove:
    id: str
    model: str
    alias: str
    from_version: int | None
    to_version: int | None
    action: str
    actor: str
    reason: str | None
    forced: bool
    verdict_id: str | None
    created_at: dt.datetime


def check_alias(alias: str) -> str:
    if alias == "latest" or alias.isdigit() or not ALIAS_PATTERN.match(alias):
        raise InvalidInput(
            f"Alias {alias!r} is not allowed; use a name like champion or staging "
            "(letters, digits, '_' or '-', starting with a letter; not 'latest')."
        )
    return alias


def current_holder(conn: sa.Connection, model_id: str, alias: str) -> str | None:
    value = conn.execute(
        sa.select(t.aliases.c.model_version_id).where(
            t.aliases.c.model_id == model_id, t.aliases.c.alias == alias
        )
    ).scalar()
    return None if value is None else str(value)


def _version_number(conn: sa.Connection, version_id: str | None) -> int | None:
    if version_id is None:
        return None
    return int(
        conn.execute(
            sa.select(t.model_versions.c.version).where(t.model_versions.c.id == version_id)
        ).scalar_one()
    )


def move_alias(
    conn: sa.Connection,
    store: Store,
    *,
    model: str,
    model_id: str,
    alias: str,
    to_version_id: str | None,
    expected_from: str | None,
    action: str,
    actor: str,
    reason: str | None,
    forced: bool = False,
    verdict_id: str | None = None,
) -> AliasMove:
    """Point ``alias`` at ``to_version_id`` (None removes it) inside the caller's transaction.

    Raises ``AlreadyExists`` when the alias moved since the caller read ``expected_from``.
    """
    lock_parent(conn, t.models, model_id)
    holder = current_holder(conn, model_id, alias)
    if holder != expected_from:
        raise AlreadyExists(
            f"{model}@{alias} moved while this request was being checked; run the command again."
        )
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        t.aliases.delete().where(t.aliases.c.model_id == model_id, t.aliases.c.alias == alias)
    )
    if to_version_id is not None:
        conn.execute(
            t.aliases.insert().values(
                model_id=model_id, alias=alias, model_version_id=to_version_id, updated_at=now
            )
        )
    move_id = new_id()
    conn.execute(
        t.alias_moves.insert().values(
            id=move_id,
            model_id=model_id,
            alias=alias,
            from_version_id=holder,
            to_version_id=to_version_id,
            action=action,
            actor=actor,
            reason=reason,
            forced=forced,
            verdict_id=verdict_id,
            created_at=now,
        )
    )
    from_number, to_number = _version_number(conn, holder), _version_number(conn, to_version_id)
    audit.record(
        conn,
        actor=actor,
        action=action,
        model=model,
        subject=f"{model}@{alias}",
        from_value=None if from_number is None else f"{model}@{from_number}",
        to_value=None if to_number is None else f"{model}@{to_number}",
        reason=reason,
        verdict_id=verdict_id,
        details={"forced": forced} if forced else {},
    )
    return AliasMove(
        id=move_id,
        model=model,
        alias=alias,
        from_version=from_number,
        to_version=to_number,
        action=action,
        actor=actor,
        reason=reason,
        forced=forced,
        verdict_id=verdict_id,
        created_at=now,
    )


def history(store: Store, name: str, *, alias: str | None = None) -> list[AliasMove]:
    check_name(name)
    source = t.model_versions.alias("src")
    target = t.model_versions.alias("dst")
    query = (
        sa.select(t.alias_moves, source.c.version.label("from_n"), target.c.version.label("to_n"))
        .join(t.models, t.models.c.id == t.alias_moves.c.model_id)
        .outerjoin(source, source.c.id == t.alias_moves.c.from_version_id)
        .outerjoin(target, target.c.id == t.alias_moves.c.to_version_id)
        .where(t.models.c.name == name)
        .order_by(t.alias_moves.c.created_at, t.alias_moves.c.id)
    )
    if alias:
        query = query.where(t.alias_moves.c.alias == check_alias(alias))
    with store.read() as conn:
        model_id = model_id_in(conn, name)
        rows = conn.execute(query).all()
        if alias and not rows:
            moved = conn.execute(
                sa.select(t.alias_moves.c.alias)
                .where(t.alias_moves.c.model_id == model_id)
                .distinct()
                .order_by(t.alias_moves.c.alias)
            ).scalars()
            known = ", ".join(moved)
            raise NotFound(
                f"{name} has no alias {alias!r} and never had one; "
                + (f"its aliases have been: {known}." if known else "no alias of it has moved yet.")
            )
    return [
        AliasMove(
            id=row.id,
            model=name,
            alias=row.alias,
            from_version=row.from_n,
            to_version=row.to_n,
            action=row.action,
            actor=row.actor,
            reason=row.reason,
            forced=row.forced,
            verdict_id=row.verdict_id,
            created_at=row.created_at,
        )
        for row in rows
    ]


def rollback(
    store: Store,
    *,
    name: str,
    alias: str = "champion",
    actor: str,
    reason: str | None = None,
    artifacts: ArtifactStore | None = None,
) -> AliasMove:
    """Move ``alias`` back to the holder before the current one was promoted.

    Rollbacks walk back through promotions like a stack: rolling back twice from v3 gives v2, then
    v1. Raises ``NotFound`` when the alias is unset, ``InvalidInput`` when there is nothing earlier.
    """
    check_alias(alias)
    with store.transaction() as conn:
        model_id = model_id_in(conn, name)
        lock_parent(conn, t.models, model_id)
        holder = current_holder(conn, model_id, alias)
        if holder is None:
            raise NotFound(f"{name}@{alias} is not set, so there is nothing to roll back.")
        promoted = conn.execute(
            sa.select(t.alias_moves.c.from_version_id)
            .where(
                t.alias_moves.c.model_id == model_id,
                t.alias_moves.c.alias == alias,
                t.alias_moves.c.to_version_id == holder,
                t.alias_moves.c.action != "rollback",
            )
            .order_by(t.alias_moves.c.created_at.desc(), t.alias_moves.c.id.desc())
            .limit(1)
        ).first()
        if promoted is None or promoted.from_version_id is None:
            raise InvalidInput(
                f"{name}@{alias} has no earlier holder to roll back to; `mloop models history {name}` shows its moves."
            )
        if artifacts is not None:
            require_intact(artifacts, version_by_id(conn, promoted.from_version_id))
        return move_alias(
            conn,
            store,
            model=name,
            model_id=model_id,
            alias=alias,
            to_version_id=promoted.from_version_id,
            expected_from=holder,
            action="rollback",
            actor=actor,
            reason=reason,
        )
