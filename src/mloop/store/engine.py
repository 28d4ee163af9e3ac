"""Engines for the metadata store: SQLite (the default, no server) and PostgreSQL.

SQLite gets WAL (readers never block the writer), a busy timeout (a second writer waits instead of
failing), foreign keys, and ``BEGIN IMMEDIATE`` for write transactions: a deferred transaction that
reads then writes can deadlock against another process's writer, and SQLite's busy handler cannot
break that deadlock.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mloop.errors import InvalidInput

BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "mloop_write"


def _configure_sqlite(engine: Engine, *, read_only: bool = False) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not read_only:
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


def _read_only_file(path: str) -> Path | None:
    """The database file when this user can read it but not write it (or its folder, where
    SQLite keeps the WAL index it must write even to read): a shared, published registry."""
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    file = Path(path)
    if not file.is_file() or not os.access(file, os.R_OK):
        return None
    return None if os.access(file, os.W_OK) and os.access(file.parent, os.W_OK) else file


def _read_only_engine(file: Path) -> Engine:
    wal = file.with_name(file.name + "-wal")
    # immutable: no WAL index to write; only safe when no committed pages wait in the WAL.
    settled = not wal.exists() or wal.stat().st_size == 0
    uri = f"file:{quote(str(file))}?mode=ro" + ("&immutable=1" if settled else "")

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(
            uri,
            uri=True,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,
        )

    engine = sa.create_engine("sqlite://", creator=connect)
    _configure_sqlite(engine, read_only=True)
    return engine


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; raises ``InvalidInput`` for a URL SQLAlchemy cannot use."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise InvalidInput(
            f"Store URL {url!r} is not a database URL; use sqlite:///path or postgresql+psycopg://…"
        ) from exc
    if parsed.get_backend_name() == "sqlite":
        read_only = _read_only_file(parsed.database or "")
        if read_only is not None:
            return _read_only_engine(read_only)
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
