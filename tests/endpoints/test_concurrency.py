"""Real processes changing endpoints at once: numbers never collide, a move is followed once."""

from __future__ import annotations

import itertools
import multiprocessing
import time
from typing import Any

from mloop.endpoints import service
from mloop.registry.promotion import promote
from mloop.registry.versions import resolve
from mloop.workspace import Workspace


def _deployer(root: str, store_url: str, who: str, rounds: int) -> None:
    ws = Workspace.open(root, environ={"MLOOP_STORE_URL": store_url})
    for i in range(rounds):
        service.deploy(ws.store, "api", f"churn@{1 + i % 3}", actor=who)
    ws.close()


def _follower(root: str, store_url: str, who: str, stop: Any) -> None:
    ws = Workspace.open(root, environ={"MLOOP_STORE_URL": store_url})
    while not stop.is_set():
        service.follow_aliases(ws.store, who)
    service.follow_aliases(ws.store, who)
    ws.close()


def _start(target: Any, *args: Any) -> Any:
    proc = multiprocessing.get_context("spawn").Process(target=target, args=args)
    proc.start()
    return proc


def test_concurrent_deploys_get_distinct_consecutive_revision_numbers(models: Workspace) -> None:
    args = (str(models.root), models.settings.store_url)
    procs = [_start(_deployer, *args, who, 12) for who in ("p1", "p2")]
    for proc in procs:
        proc.join(180)
        assert proc.exitcode == 0
    revisions = service.history(models.store, "api")
    assert [r.number for r in revisions] == list(range(1, 25))
    assert sorted(r.created_by for r in revisions) == ["p1"] * 12 + ["p2"] * 12
    live = service.get_endpoint(models.store, "api").live
    assert live is not None and live.number == 24


def test_followers_racing_on_alias_moves_write_each_change_once(models: Workspace) -> None:
    store = models.store
    service.deploy(store, "api", "churn@champion", actor="t")
    service.deploy(store, "web", "churn@champion", shadow="churn@challenger", actor="t")
    stop = multiprocessing.get_context("spawn").Event()
    args = (str(models.root), models.settings.store_url)
    procs = [_start(_follower, *args, who, stop) for who in ("f1", "f2")]
    time.sleep(3)  # both followers polling
    for version in (3, 2, 3, 1, 2):
        promote(
            store, models.artifacts, name="churn", version=version, alias="champion", gate=None, actor="t"
        )  # fmt: skip
        time.sleep(0.4)
    stop.set()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    champion = resolve(store, "churn@champion").version
    for name in ("api", "web"):
        revisions = service.history(store, name)
        assert [r.number for r in revisions] == list(range(1, len(revisions) + 1))
        follows = [r for r in revisions if r.action == "follow"]
        assert follows, "the followers saw the moves"
        for before, after in itertools.pairwise(revisions):
            assert after.primary.version != before.primary.version, (
                f"{name} r{after.number} repeats r{before.number}: two followers wrote one move"
            )
        live = service.get_endpoint(store, name).live
        assert live is not None and live.primary.version == champion
    assert service.follow_aliases(store, "t") == []


def test_a_follower_that_read_before_another_wrote_writes_nothing(
    models: Workspace, monkeypatch: Any
) -> None:
    """Two callers both see the move; the second re-checks under the endpoint's lock."""
    from mloop.endpoints import following

    store = models.store
    service.deploy(store, "api", "churn@champion", actor="t")
    promote(
        store, models.artifacts, name="churn", version=3, alias="champion", gate=None, actor="t"
    )
    real = following._holders

    def other_caller_writes_meanwhile(conn: Any, names: Any) -> Any:
        seen = real(conn, names)  # this caller has seen the move...
        monkeypatch.setattr(following, "_holders", real)
        assert len(service.follow_aliases(store, "other")) == 1  # ...and the other one wins
        return seen

    monkeypatch.setattr(following, "_holders", other_caller_writes_meanwhile)
    assert service.follow_aliases(store, "late") == []
    revisions = service.history(store, "api")
    assert [(r.number, r.action, r.created_by) for r in revisions] == [
        (1, "deploy", "t"),
        (2, "follow", "other"),
    ]
