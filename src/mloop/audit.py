"""The audit log: who did what, when, why, from what to what.

Registry actions (register, approve, promote, rollback) and changes to the rules data is checked
against (schema imports) are recorded here; it sits below the services so each of them, and the
serving layer later, can append inside its own transaction.

Append-only twice over: this module only ever inserts, and the database refuses UPDATE and DELETE
on the table (a trigger from the first migration), so not even a bug here can rewrite history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from mloop.errors import InvalidInput
from mloop.ids import new_id
from mloop.store import Store
from mloop.store import tables as t


@dataclass(frozen=True)
class AuditEntry:
    id: str
    created_at: dt.datetime
    actor: str
    action: str
    model: str | None
    subject: str
    from_value: str | None
    to_value: str | None
    reason: str | None
    verdict_id: str | None
    details: dict[str, Any]


def record(
    conn: sa.Connection,
    *,
    actor: str,
    action: str,
    subject: str,
    model: str | None = None,
    from_value: str | None = None,
    to_value: str | None = None,
    reason: str | None = None,
    verdict_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> str:
    """Append one entry inside the caller's transaction, so the action and its record commit together."""
    entry_id = new_id()
    conn.execute(
        t.audit_log.insert().values(
            id=entry_id,
            created_at=dt.datetime.now(dt.UTC),
            actor=actor,
            action=action,
            model=model,
            subject=subject,
            from_value=from_value,
            to_value=to_value,
            reason=reason,
            verdict_id=verdict_id,
            details=details or {},
        )
    )
    return entry_id


def list_entries(
    store: Store, *, model: str | None = None, limit: int | None = None
) -> list[AuditEntry]:
    """Oldest first; ``limit`` keeps the newest entries (of ``model`` only, when given)."""
    if limit is not None and limit < 1:
        raise InvalidInput(f"--limit must be 1 or more; got {limit}.")
    newest_first = sa.select(t.audit_log).order_by(
        t.audit_log.c.created_at.desc(), t.audit_log.c.id.desc()
    )
    if model:
        newest_first = newest_first.where(t.audit_log.c.model == model)
    if limit:
        newest_first = newest_first.limit(limit)
    with store.read() as conn:
        rows = list(conn.execute(newest_first))
        return [
            AuditEntry(
                id=row.id,
                created_at=row.created_at,
                actor=row.actor,
                action=row.action,
                model=row.model,
                subject=row.subject,
                from_value=row.from_value,
                to_value=row.to_value,
                reason=row.reason,
                verdict_id=row.verdict_id,
                details=row.details or {},
            )
            for row in reversed(rows)
        ]
