"""Numbered children of a parent row (dataset versions, schema revisions, model versions).

Two writers adding a child at once must not both read the same newest number: on PostgreSQL the
parent row is locked (``SELECT … FOR UPDATE``) before the newest child is read; SQLite write
transactions are already exclusive. One copy of both steps, so every sequence behaves alike.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa


def lock_parent(conn: sa.Connection, table: sa.Table, row_id: str) -> None:
    """Hold ``table``'s row ``row_id`` until the transaction ends (PostgreSQL; a no-op on SQLite)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(table.c.id).where(table.c.id == row_id).with_for_update())


def newest_number(conn: sa.Connection, number: sa.Column[Any], *where: Any) -> int | None:
    """The highest ``number`` among the rows matching ``where``; None when there is none yet."""
    newest = conn.execute(sa.select(sa.func.max(number)).where(*where)).scalar()
    return None if newest is None else int(newest)


def next_number(conn: sa.Connection, number: sa.Column[Any], *where: Any) -> int:
    """One past the highest ``number`` among the rows matching ``where`` (1 for the first).

    Call it after ``lock_parent`` in the same transaction, so the number is still free on insert.
    """
    return (newest_number(conn, number, *where) or 0) + 1
