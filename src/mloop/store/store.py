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

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from mloop.errors import InvalidInput
from mloop.store.engine import WRITE_OPTION, make_engine

MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_LOCK_KEY = 0x6D6C6F6F70  # "mloop"


def _alembic_config() -> Config:
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
                safe = sa.engine.make_url(url).render_as_string(hide_password=True)
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
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
        """A write transaction: committed on exit, rolled back on any exception."""
        with self.engine.connect().execution_options(**{WRITE_OPTION: True}) as conn, conn.begin():
            yield conn

    @contextmanager
    def read(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def upgrade(self) -> None:
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
        with self.read() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def close(self) -> None:
        self.engine.dispose()
