"""Writing endpoint changes: find and lock the endpoint row, append the next revision, audit it.

Shared by every change (``service``) and by alias following (``following``), so each numbers
revisions, moves the live or staged pointer and records the audit entry the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mloop import audit
from mloop.data import refs
from mloop.endpoints.revisions import NewRevision, Revision, append
from mloop.errors import NotFound
from mloop.store import tables as t
from mloop.store.sequences import lock_parent, next_number

ENDPOINT_NAME_FIX = "an endpoint is named alone (e.g. {name!r}); the model goes in MODEL_REF"


def check_endpoint_name(name: str) -> str:
    """``name`` when it is a safe endpoint name (the model-name rules); ``InvalidInput`` otherwise."""
    return refs.check_name(name, what="Endpoint name", fix=ENDPOINT_NAME_FIX)


def unknown_endpoint(conn: sa.Connection, name: str) -> NotFound:
    e = t.endpoints
    known = list(
        conn.execute(
            sa.select(e.c.name).where(e.c.deleted_at.is_(None)).order_by(e.c.name).limit(20)
        ).scalars()
    )
    hint = (
        f"endpoints are: {refs.shortlist(known)} (`mloop endpoints ls`)"
        if known
        else "none is deployed yet; `mloop deploy NAME MODEL_REF` makes one"
    )
    return NotFound(f"No endpoint named {name!r}; {hint}.")


def locked_endpoint(conn: sa.Connection, name: str, *, deleted_ok: bool = False) -> Any:
    """The endpoint's row, locked for this transaction; ``NotFound`` when absent or deleted."""
    check_endpoint_name(name)
    e = t.endpoints
    endpoint_id = conn.execute(sa.select(e.c.id).where(e.c.name == name)).scalar()
    if endpoint_id is None:
        raise unknown_endpoint(conn, name)
    lock_parent(conn, e, endpoint_id)
    row = conn.execute(sa.select(e).where(e.c.id == endpoint_id)).one()
    if row.deleted_at is not None and not deleted_ok:
        raise NotFound(
            f"Endpoint {name!r} was deleted on {row.deleted_at:%Y-%m-%d %H:%M}; "
            f"`mloop deploy {name} MODEL_REF` starts it again."
        )
    return row


def write_revision(
    conn: sa.Connection,
    row: Any,
    new: NewRevision,
    *,
    actor: str,
    previous: Revision | None,
) -> Revision:
    """Append ``new`` as the endpoint's next revision, point the endpoint at it, audit it.

    Stamped after the caller took the lock, so revisions' times follow their numbers.
    """
    now = dt.datetime.now(dt.UTC)
    r, e = t.endpoint_revisions, t.endpoints
    endpoint_id = str(row.id)
    name = str(row.name)
    number = next_number(conn, r.c.number, r.c.endpoint_id == endpoint_id)
    revision = append(
        conn, endpoint_id=endpoint_id, endpoint=name, number=number, new=new, actor=actor, now=now
    )
    pointer = "staged_revision_id" if new.staged else "live_revision_id"
    changes: dict[str, object] = {pointer: revision.id, "updated_at": now, "deleted_at": None}
    if new.action == "switch":
        changes["staged_revision_id"] = None
    conn.execute(e.update().where(e.c.id == endpoint_id).values(**changes))
    audit.record(
        conn,
        actor=actor,
        action=f"endpoint_{new.action}",
        model=revision.primary.model,
        subject=f"endpoint {name}" + (" (staged)" if new.staged else ""),
        from_value=None if previous is None else f"r{previous.number} {previous.describe()}",
        to_value=f"r{number} {revision.describe()}",
        reason=new.reason,
        details=revision.to_dict(),
    )
    return revision
