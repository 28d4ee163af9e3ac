"""Insert a row unless one with the same unique key exists, without failing the transaction.

Two writers creating the same named row at once (the first deploy of an endpoint, the first
export of a version) must both succeed: on PostgreSQL the second ``INSERT … ON CONFLICT DO
NOTHING`` waits for the first to commit, then inserts nothing; SQLite write transactions are
already exclusive, and the same statement is harmless there.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_if_absent(
    conn: sa.Connection, table: sa.Table, values: dict[str, Any], *, unique: list[str]
) -> bool:
    """Insert ``values`` into ``table`` unless a row with the same ``unique`` columns exists.

    Returns whether this call inserted the row.
    """
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=unique)
        .returning(table.c[unique[0]])  # rowcount is -1 here under psycopg; a returned row is not
    )
    return conn.execute(statement).first() is not None
