"""Metadata storage: tables, engines, migrations and the ``Store`` transaction boundary."""

from mloop.store.store import Store

__all__ = ["Store"]
