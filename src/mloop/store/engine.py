"""Engines for the metadata store: SQLite (the default, no server) and PostgreSQL.

SQLite gets WAL (readers never block the writer), a busy timeout (a second writer waits instead of
failing), foreign keys, and ``BEGIN IMMEDIATE`` for write transactions: a deferred transaction that
reads then writes can deadlock against another process's writer, and SQLite's busy handler cannot
break that deadlock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mloop.errors import InvalidInput

BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "mloop_write"


def _configure_sqlite(engine: Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; raises ``InvalidInput`` for a URL SQLAlchemy cannot use."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidInput(
            f"Store URL {url!r} is not a database URL; use sqlite:///path or postgresql+psycopg://…"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        # The driver's own transaction handling is switched off so the "begin" hook decides.
        engine = sa.create_engine(
            url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000, "isolation_level": None}
        )
        _configure_sqlite(engine)
        return engine
    try:
        return sa.create_engine(url, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
        raise InvalidInput(
            f"Cannot use store URL {parsed.render_as_string(hide_password=True)!r} ({exc}); "
            "for PostgreSQL install mloop[postgres] and use postgresql+psycopg://."
        ) from exc
