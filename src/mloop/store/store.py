"""The metadata store: an engine, its migrations, and transactions.

Services take a ``Store`` and open the transaction they need: ``with store.transaction() as conn``
for a change (one transaction for every multi-row change), ``with store.read() as conn`` for a read.
Opening a store upgrades it to the newest migration, under a lock, so two processes opening a
fresh workspace at once do not race.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from mloop.errors import InvalidInput
from mloop.store.engine import WRITE_OPTION, make_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).with_name("migrations")
# The newest migration. Opening a store that is already there reads one row and skips Alembic
# (a fifth of a CLI command's start-up) and the write lock; tests/store checks it is Alembic's head.
HEAD_REVISION = "0005"
_ADVISORY_LOCK_KEY = 0x6D6C6F6F70  # "mloop"
# SQLite's Unix file layer refuses paths past 512 bytes, including the "-journal"/"-wal" suffixes.
SQLITE_MAX_PATH = 500


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Store:
        """Connect to ``url`` and bring its schema up to date.

        Raises ``InvalidInput`` when the database cannot be reached or is not an mloop store.
        """
        store = cls(make_engine(url))
        if migrate:
            try:
                store.upgrade()
            except sa.exc.OperationalError as exc:
                store.close()
                parsed = sa.engine.make_url(url)
                safe = parsed.render_as_string(hide_password=True)
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
                database = parsed.database or ""
                if parsed.get_backend_name() == "sqlite" and len(database) > SQLITE_MAX_PATH:
                    raise InvalidInput(
                        f"The metadata store path {database} is {len(database)} characters, "
                        f"longer than the {SQLITE_MAX_PATH} SQLite accepts; move the workspace to "
                        "a shorter path or set MLOOP_STORE_URL to a shorter sqlite:/// path."
                    ) from exc
                raise InvalidInput(
                    f"Cannot open the metadata store {safe} ({reason}); check MLOOP_STORE_URL "
                    "or [store] url in mloop.toml."
                ) from exc
        return store

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """A write transaction: committed on exit, rolled back on any exception.

        Raises ``InvalidInput`` when the store is read-only for this user.
        """
        try:
            with (
                self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn,
                conn.begin(),
            ):
                yield conn
        except sa.exc.OperationalError as exc:
            if "readonly" not in str(exc.orig).replace("read-only", "readonly"):
                raise
            raise InvalidInput(
                "The workspace's metadata store is read-only for this user, so nothing was "
                "changed; run this as a user who can write the workspace (reading works as is)."
            ) from exc

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def upgrade(self) -> None:
        if self.current_revision() == HEAD_REVISION:
            return
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
        with self.transaction() as conn:
            if self.dialect == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK_KEY})
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
            config = _alembic_config()
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def current_revision(self) -> str | None:
        """The migration this database is at; ``None`` for an empty database."""
        with self.read() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            versions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars()
            found = list(versions)
        return found[0] if len(found) == 1 else None

    def close(self) -> None:
        self.engine.dispose()
