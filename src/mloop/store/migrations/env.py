"""Alembic environment: migrations always run on a connection the Store hands over."""

from __future__ import annotations

from alembic import context

from mloop.store.tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # `alembic revision --autogenerate` from a developer shell
    import os

    from mloop.store.engine import make_engine

    engine = make_engine(os.environ.get("MLOOP_STORE_URL", "sqlite:///.mloop/mloop.db"))
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
