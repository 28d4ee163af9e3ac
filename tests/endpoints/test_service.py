"""The endpoints service on a real store: every change is one new revision plus an audit entry."""

from __future__ import annotations

import pytest

from mloop import audit
from mloop.endpoints import service
from mloop.errors import InvalidInput, NotFound
from mloop.registry.aliases import rollback as alias_rollback
from mloop.registry.promotion import promote
from mloop.workspace import Workspace


def test_deploy_writes_numbered_revisions_that_name_versions_and_aliases(models: Workspace) -> None:
    store = models.store
    first = service.deploy(store, "churn-api", "churn@champion", reason="launch", actor="ann")
    assert (first.number, first.primary.ref, first.primary.alias) == (1, "churn@1", "champion")
    assert first.action == "deploy" and not first.staged and first.traffic == {"primary": 100}
    second = service.deploy(
        store,
        "churn-api",
        "churn@1",
        canary="churn@challenger",
        weight=10,
        shadow="churn@3",
        actor="bob",
    )
    assert second.number == 2
    assert second.primary.alias is None, "NAME@N is pinned"
    assert (second.canary and second.canary.ref, second.canary_weight) == ("churn@2", 10)
    assert second.traffic == {"primary": 90, "canary": 10}
    assert second.shadow is not None and second.shadow.ref == "churn@3"
    state = service.get_endpoint(store, "churn-api")
    assert state.live == second and state.staged is None
    shown = second.to_dict()
    assert shown["canary"]["ref"] == "churn@2" and shown["canary"]["follows"] == "churn@challenger"
    assert [r.number for r in service.history(store, "churn-api")] == [1, 2]
    entries = [e for e in audit.list_entries(store) if e.subject == "endpoint churn-api"]
    assert [(e.action, e.actor) for e in entries] == [
        ("endpoint_deploy", "ann"),
        ("endpoint_deploy", "bob"),
    ]
    assert entries[0].reason == "launch" and entries[1].from_value == "r1 churn@1 (champion)"


def test_stage_then_switch_flips_all_traffic_at_once(models: Workspace) -> None:
    store = models.store
    with pytest.raises(InvalidInput, match="no live revision to stage beside"):
        service.deploy(store, "churn-api", "churn@2", stage=True, actor="t")
    assert service.list_endpoints(store) == [], "the refused first deploy wrote nothing"
    service.deploy(store, "churn-api", "churn@1", actor="t")
    staged = service.deploy(store, "churn-api", "churn@2", stage=True, actor="t")
    state = service.get_endpoint(store, "churn-api")
    assert state.live is not None and state.live.primary.ref == "churn@1"
    assert state.staged == staged and staged.staged and staged.action == "stage"
    switched = service.switch(store, "churn-api", reason="green is warm", actor="t")
    assert (switched.number, switched.action, switched.source_revision) == (3, "switch", 2)
    assert switched.primary.ref == "churn@2" and not switched.staged
    state = service.get_endpoint(store, "churn-api")
    assert state.live == switched and state.staged is None
    with pytest.raises(InvalidInput, match="no staged revision"):
        service.switch(store, "churn-api", actor="t")


def test_rollback_reapplies_an_earlier_revision_pinned_and_walks_back_like_a_stack(
    models: Workspace,
) -> None:
    store = models.store
    service.deploy(store, "api", "churn@champion", actor="t")  # r1: churn@1 following champion
    service.deploy(store, "api", "churn@2", actor="t")  # r2
    service.deploy(store, "api", "churn@3", stage=True, actor="t")  # r3 staged, never live
    service.deploy(store, "api", "churn@3", actor="t")  # r4
    back = service.rollback(store, "api", reason="r4 is bad", actor="t")
    assert (back.number, back.action, back.source_revision) == (5, "rollback", 2)
    assert back.primary.ref == "churn@2"
    again = service.rollback(store, "api", actor="t")
    assert (again.source_revision, again.primary.ref) == (1, "churn@1")
    assert again.primary.alias is None, "a rollback pins the versions, it does not re-follow"
    with pytest.raises(InvalidInput, match="no live revision before r1"):
        service.rollback(store, "api", actor="t")
    chosen = service.rollback(store, "api", to=4, actor="t")
    assert (chosen.number, chosen.primary.ref) == (7, "churn@3")
    with pytest.raises(NotFound, match="has no revision 99; its revisions are numbered 1 to 7 "):
        service.rollback(store, "api", to=99, actor="t")
    with pytest.raises(InvalidInput, match="live one already"):
        service.rollback(store, "api", to=7, actor="t")
    state = service.get_endpoint(store, "api")
    assert state.staged is not None and state.staged.number == 3, "the staged one stays staged"


def test_rollback_to_a_staged_revision_is_refused_naming_the_ones_that_were_live(
    models: Workspace,
) -> None:
    store = models.store
    service.deploy(store, "api", "churn@1", actor="t")  # r1
    service.deploy(store, "api", "churn@2", stage=True, actor="t")  # r2 staged, never live
    with pytest.raises(InvalidInput, match="no revision but the live r1 was ever live"):
        service.rollback(store, "api", to=2, actor="t")
    service.deploy(store, "api", "churn@2", actor="t")  # r3
    service.deploy(store, "api", "churn@3", actor="t")  # r4
    service.deploy(store, "api", "churn@3", stage=True, actor="t")  # r5 staged, replacing r2
    service.deploy(store, "api", "churn@1", actor="t")  # r6
    before = service.history(store, "api")
    with pytest.raises(InvalidInput) as staged_now:
        service.rollback(store, "api", to=5, actor="t")
    assert str(staged_now.value) == (
        "Revision 5 of 'api' is staged and has never served traffic, so it cannot be rolled "
        "back to; `mloop endpoints switch api` makes it live, and the ones that can be rolled back "
        "to (they were live) are r1, r3-r4."
    )
    with pytest.raises(InvalidInput, match=r"Revision 2 of 'api' was staged and never served"):
        service.rollback(store, "api", to=2, actor="t")
    assert service.history(store, "api") == before, "a refused rollback writes nothing"
    state = service.get_endpoint(store, "api")
    assert state.live is not None and state.live.number == 6
    assert state.staged is not None and state.staged.number == 5
    back = service.rollback(store, "api", to=4, actor="t")  # a revision that was live is fine
    assert (back.number, back.source_revision, back.primary.ref) == (7, 4, "churn@3")


def test_delete_then_deploy_again_continues_the_numbers(models: Workspace) -> None:
    store = models.store
    service.deploy(store, "api", "churn@1", actor="t")
    deleted = service.delete(store, "api", reason="retired", actor="t")
    assert deleted.deleted_at is not None and deleted.live is None
    assert service.list_endpoints(store) == []
    with pytest.raises(NotFound, match="was deleted"):
        service.get_endpoint(store, "api")
    with pytest.raises(NotFound, match="was deleted"):
        service.rollback(store, "api", actor="t")
    assert [r.number for r in service.history(store, "api")] == [1]
    again = service.deploy(store, "api", "churn@2", actor="t")
    assert again.number == 2
    assert service.get_endpoint(store, "api").deleted_at is None
    actions = [e.action for e in audit.list_entries(store) if e.subject == "endpoint api"]
    assert actions == ["endpoint_deploy", "endpoint_delete", "endpoint_deploy"]


def test_follow_aliases_writes_one_revision_per_move_and_is_idempotent(models: Workspace) -> None:
    store, artifacts = models.store, models.artifacts
    service.deploy(store, "api", "churn@champion", shadow="churn@challenger", actor="t")
    service.deploy(store, "api", "churn@champion", stage=True, actor="t")
    service.deploy(store, "pinned", "churn@1", actor="t")
    assert service.follow_aliases(store, "server") == []
    promote(
        store,
        artifacts,
        name="churn",
        version=3,
        alias="champion",
        gate=None,
        actor="ann",
        reason="better AUC",
    )
    written = service.follow_aliases(store, "server")
    assert [(r.number, r.staged, r.action, r.primary.ref) for r in written] == [
        (3, False, "follow", "churn@3"),
        (4, True, "follow", "churn@3"),
    ]
    assert written[0].reason == "churn@champion moved 1 → 3: better AUC"
    assert written[0].shadow is not None and written[0].shadow.ref == "churn@2"
    assert written[0].primary.alias == "champion", "it keeps following"
    assert service.follow_aliases(store, "server") == [], "idempotent"
    state = service.get_endpoint(store, "api")
    assert state.live == written[0] and state.staged == written[1]
    assert service.get_endpoint(store, "pinned").live.primary.ref == "churn@1"  # type: ignore[union-attr]
    alias_rollback(store, name="churn", actor="ann")
    (back,) = [r for r in service.follow_aliases(store, "server") if not r.staged]
    assert (
        back.primary.ref == "churn@1"
        and back.reason == "churn@champion moved 3 → 1 (rollback by ann)"
    )
    promote(store, artifacts, name="churn", version=2, alias="champion", gate=None, actor="ann")
    (same,) = [r for r in service.follow_aliases(store, "server") if not r.staged]
    assert "the shadow is now the primary's version churn@2 too" in (same.reason or "")


def test_serving_snapshot_token_moves_with_every_change(models: Workspace) -> None:
    store = models.store
    empty, states = service.serving_snapshot(store)
    assert states == [] and service.change_token(store) == empty
    service.deploy(store, "a", "churn@1", actor="t")
    service.deploy(store, "b", "churn@2", canary="churn@3", weight=5, actor="t")
    token, states = service.serving_snapshot(store)
    assert token != empty and [s.name for s in states] == ["a", "b"]
    assert states[1].live is not None and states[1].live.traffic == {"primary": 95, "canary": 5}
    assert service.change_token(store) == token, "nothing changed"
    service.delete(store, "a", actor="t")
    after, states = service.serving_snapshot(store)
    assert after != token and [s.name for s in states] == ["b"]
