from __future__ import annotations

import datetime as dt
import multiprocessing
from pathlib import Path

import pytest
import sqlalchemy as sa

from mloop.errors import InvalidInput
from mloop.ids import new_id
from mloop.store import Store
from mloop.store import tables as t
from mloop.store.store import HEAD_REVISION


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def test_open_migrates_an_empty_database_to_head(store_url: str) -> None:
    store = Store.open(store_url)
    assert store.current_revision() == HEAD_REVISION
    with store.read() as conn:
        names = set(sa.inspect(conn).get_table_names())
    assert {"datasets", "runs", "metrics", "model_versions", "audit_log"} <= names
    store.close()


def test_head_revision_is_alembics_head() -> None:
    """A new migration must bump HEAD_REVISION, or stores already at the old head skip it."""
    from alembic.script import ScriptDirectory

    from mloop.store.store import HEAD_REVISION, _alembic_config

    assert ScriptDirectory.from_config(_alembic_config()).get_current_head() == HEAD_REVISION


def test_a_store_at_head_opens_without_alembic(tmp_path: Path) -> None:
    """The CLI opens the store on every command; at head that must not import Alembic."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'm.db'}"
    Store.open(url).close()
    code = (
        "import sys; from mloop.store import Store; Store.open(sys.argv[1]).close(); "
        "print('alembic' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, url], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "False"


def test_reopening_is_idempotent(store_url: str) -> None:
    Store.open(store_url).close()
    store = Store.open(store_url)
    assert store.current_revision() == HEAD_REVISION
    store.close()


def test_sqlite_store_uses_wal_and_foreign_keys(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'm.db'}")
    with store.read() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    with pytest.raises(sa.exc.IntegrityError), store.transaction() as conn:
        conn.execute(
            t.run_inputs.insert().values(run_id="nope", dataset_version_id="nope", role="train")
        )
    store.close()


def test_a_failed_transaction_leaves_nothing(store_url: str) -> None:
    store = Store.open(store_url)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        conn.execute(t.experiments.insert().values(id=new_id(), name="a", created_at=_now()))
        raise RuntimeError("boom")
    with store.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t.experiments)).scalar() == 0
    store.close()


def test_audit_rows_cannot_be_updated_or_deleted(store_url: str) -> None:
    store = Store.open(store_url)
    with store.transaction() as conn:
        conn.execute(
            t.audit_log.insert().values(
                id=new_id(), created_at=_now(), actor="a", action="x", subject="s", details={}
            )
        )
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.transaction() as conn:
        conn.execute(t.audit_log.update().values(actor="mallory"))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.transaction() as conn:
        conn.execute(t.audit_log.delete())
    with store.read() as conn:
        assert conn.execute(sa.select(t.audit_log.c.actor)).scalars().all() == ["a"]
    store.close()


def test_an_audit_row_cannot_be_replaced_under_its_own_id(store_url: str) -> None:
    store = Store.open(store_url)
    row_id = new_id()
    row = {"id": row_id, "actor": "a", "action": "promote_forced", "subject": "m@champion"}
    with store.transaction() as conn:
        conn.execute(t.audit_log.insert().values(**row, created_at=_now(), details={}))
    forged = {**row, "actor": "eve", "action": "promote"}
    if store.dialect == "sqlite":
        statement = (
            t.audit_log.insert()
            .prefix_with("OR REPLACE")
            .values(**forged, created_at=_now(), details={})
        )
    else:
        from sqlalchemy.dialects.postgresql import insert

        statement = (
            insert(t.audit_log)
            .values(**forged, created_at=_now(), details={})
            .on_conflict_do_update(index_elements=["id"], set_={"actor": "eve"})
        )
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.transaction() as conn:
        conn.execute(statement)
    with store.read() as conn:
        assert conn.execute(sa.select(t.audit_log.c.actor, t.audit_log.c.action)).all() == [
            ("a", "promote_forced")
        ]
    store.close()


def test_a_model_version_cannot_be_changed_or_removed(store_url: str) -> None:
    store = Store.open(store_url)
    with store.transaction() as conn:
        conn.execute(t.models.insert().values(id="m1", name="m", created_at=_now()))
        conn.execute(
            t.model_versions.insert().values(
                id="v1",
                model_id="m1",
                version=1,
                flavor="sklearn",
                artifact_hash="a" * 64,
                signature={},
                metrics={},
                created_at=_now(),
                created_by="a",
            )
        )
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.transaction() as conn:
        conn.execute(t.model_versions.update().values(artifact_hash="b" * 64))
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), store.transaction() as conn:
        conn.execute(t.model_versions.delete())
    with store.read() as conn:
        assert conn.execute(sa.select(t.model_versions.c.artifact_hash)).scalar() == "a" * 64
    store.close()


def test_an_unreachable_store_is_one_clear_error() -> None:
    with pytest.raises(InvalidInput, match="Cannot open the metadata store"):
        Store.open("sqlite:////nonexistent-dir/for/sure/m.db")


def test_a_url_that_is_not_a_database_is_invalid_input() -> None:
    with pytest.raises(InvalidInput, match="not a database URL"):
        Store.open("not a url")


def _writer(url: str, prefix: str, count: int) -> None:
    store = Store.open(url)
    for i in range(count):
        with store.transaction() as conn:
            # Read-then-write in one transaction: the pattern that deadlocks without BEGIN IMMEDIATE.
            existing = conn.execute(sa.select(sa.func.count()).select_from(t.experiments)).scalar()
            conn.execute(
                t.experiments.insert().values(
                    id=new_id(), name=f"{prefix}-{i}-{existing}", created_at=_now()
                )
            )
    store.close()


def test_two_processes_writing_at_once_lose_nothing(store_url: str) -> None:
    Store.open(store_url).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(store_url, p, 150)) for p in ("a", "b")]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    store = Store.open(store_url)
    with store.read() as conn:
        names = conn.execute(sa.select(t.experiments.c.name)).scalars().all()
    store.close()
    assert len(set(names)) == 300
    if store.dialect == "sqlite":
        # BEGIN IMMEDIATE serialises writers: each transaction saw every earlier one.
        assert sorted(int(n.rsplit("-", 1)[1]) for n in names) == list(range(300))


def test_migrations_build_exactly_the_declared_tables(store_url: str) -> None:
    """tables.py and the migrations must agree, or a new store differs from an upgraded one."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    store = Store.open(store_url)
    with store.read() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(context, t.metadata)
    store.close()
    assert diff == []
