"""`endpoints rollback` after a guarded rollout lands where the endpoint was before it began.

A rollout writes a step (the candidate beside the champion, safe to serve only while its
guardrails watch it) and then a verdict (``promote`` or ``revert``). Rolling back after it must
never re-apply the step: that would serve the candidate, often a rejected one, at its share,
pinned, with nothing watching. So the rollout counts as one change, and nothing but the endpoint
moves (the alias, the rollout's record and verdict stay as they are).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from mloop.endpoints import service
from mloop.errors import InvalidInput
from mloop.predlog import folder_for
from mloop.registry.promotion import promote
from mloop.registry.versions import resolve
from mloop.rollouts import RolloutConfig, check_rollout, get_rollout, start_rollout
from mloop.workspace import Workspace
from tests.endpoints.conftest import run_json
from tests.monitoring.logdata import churn_records, write_log

CANARY = RolloutConfig(weight=20, min_sample=20, watch_seconds=600.0)


def _start(ws: Workspace, config: RolloutConfig = CANARY) -> Any:
    return start_rollout(ws, endpoint="churn", candidate="churn@2", config=config, actor="agent")


def _reject(ws: Workspace, rollout: Any) -> Any:
    """Decide at the end of the watch with no traffic: too few requests, so rolled back."""
    due = rollout.started_at + dt.timedelta(seconds=rollout.watch_seconds + 1)
    decided = check_rollout(ws, rollout.id, now=due)
    assert decided.status == "rolled_back", decided.reason
    return decided


def _promote(ws: Workspace, rollout: Any) -> Any:
    """Log enough healthy canary answers through the real writer, then decide: promoted."""
    records = churn_records(
        30, at=rollout.started_at + dt.timedelta(seconds=1), span_s=30, version=2, role="canary"
    )
    write_log(folder_for(ws.settings), "churn", records)
    decided = check_rollout(ws, rollout.id, now=rollout.started_at + dt.timedelta(seconds=60))
    assert decided.status == "promoted", (decided.reason, decided.figures)
    return decided


def _champion(ws: Workspace) -> int:
    return resolve(ws.store, "churn@champion").version


def test_rollback_after_a_rejected_canary_serves_the_champion_alone(models: Workspace) -> None:
    store = models.store
    service.deploy(store, "churn", "churn@champion", actor="t")  # r1: churn@1, following
    rollout = _start(models)  # r2: churn@1 + canary churn@2 20%
    decided = _reject(models, rollout)  # r3: revert
    assert [r.action for r in service.history(store, "churn")] == ["deploy", "canary", "revert"]
    assert service.rollout_steps(store, "churn") == {2: rollout.id}

    back = service.rollback(store, "churn", actor="t")
    assert (back.number, back.action, back.source_revision) == (4, "rollback", 1)
    assert back.describe() == "churn@1", "the champion alone, pinned: never the canary again"
    live = service.get_endpoint(store, "churn").live
    assert live is not None and live.canary is None and live.shadow is None
    # nothing else moved: the alias, the rollout's record and its verdict revision
    assert _champion(models) == 1
    assert get_rollout(store, rollout.id) == decided
    # and the stack goes on from r1: the rollout was one change, now undone
    with pytest.raises(InvalidInput, match="no live revision before r1"):
        service.rollback(store, "churn", actor="t")


def test_rollback_after_a_promoted_canary_serves_the_former_champion(models: Workspace) -> None:
    store = models.store
    service.deploy(store, "churn", "churn@champion", actor="t")  # r1
    rollout = _start(models)  # r2
    decided = _promote(models, rollout)  # r3: churn@2, following champion
    assert _champion(models) == 2
    promoted = service.get_endpoint(store, "churn").live
    assert promoted is not None and promoted.describe() == "churn@2 (champion)"

    back = service.rollback(store, "churn", actor="t")
    assert (back.number, back.source_revision, back.describe()) == (4, 1, "churn@1")
    assert _champion(models) == 2, "a rollback moves the endpoint, never the alias"
    assert get_rollout(store, rollout.id) == decided
    # rolling back the rollback is a plain --to: the promoted revision was live, it is allowed
    again = service.rollback(store, "churn", to=3, actor="t")
    assert (again.number, again.describe()) == (5, "churn@2")


def test_a_rejected_shadow_is_skipped_the_same_way(models: Workspace) -> None:
    store = models.store
    service.deploy(store, "churn", "churn@3", actor="t")  # r1
    service.deploy(store, "churn", "churn@champion", actor="t")  # r2
    rollout = _start(models, RolloutConfig(strategy="shadow", min_sample=20))  # r3
    _reject(models, rollout)  # r4
    back = service.rollback(store, "churn", actor="t")
    assert (back.source_revision, back.describe()) == (2, "churn@1")
    further = service.rollback(store, "churn", actor="t")  # the change before the rollout
    assert (further.source_revision, further.describe()) == (1, "churn@3")


def test_rollback_to_a_rollout_step_is_refused_naming_the_revision_before_it(
    models: Workspace,
) -> None:
    store = models.store
    service.deploy(store, "churn", "churn@champion", actor="t")  # r1
    rollout = _start(models)  # r2
    _reject(models, rollout)  # r3
    before = service.history(store, "churn")
    with pytest.raises(InvalidInput) as refused:
        service.rollback(store, "churn", to=2, actor="t")
    assert str(refused.value) == (
        "Revision 2 of 'churn' (churn@1 (champion) + canary churn@2 20%) served churn@2 only "
        f"while rollout {rollout.id} watched it, so it cannot be rolled back to (nothing would "
        "watch it now); r1 was live before that rollout began (`mloop endpoints rollback churn "
        "--to 1`), and `mloop rollouts start churn churn@2` watches the candidate again."
    )
    assert service.history(store, "churn") == before, "a refused rollback writes nothing"
    # a staged revision's refusal lists what can be rolled back to: not the step either
    service.deploy(store, "churn", "churn@3", stage=True, actor="t")  # r4
    with pytest.raises(InvalidInput, match=r"the one that can be rolled back to is r1\."):
        service.rollback(store, "churn", to=4, actor="t")


def test_rolling_back_while_a_rollout_is_watched_returns_to_the_champion(
    models: Workspace,
) -> None:
    store = models.store
    service.deploy(store, "churn", "churn@champion", actor="t")  # r1
    rollout = _start(models)  # r2, live and watched
    back = service.rollback(store, "churn", actor="t")
    assert (back.number, back.source_revision, back.describe()) == (3, 1, "churn@1")
    ended = check_rollout(models, rollout.id, now=rollout.started_at + dt.timedelta(seconds=5))
    assert ended.status == "rolled_back" and ended.decided_revision is None
    assert len(service.history(store, "churn")) == 3, "the rollout ended without a revision"


def test_a_step_written_by_an_alias_moving_mid_watch_is_skipped_too(models: Workspace) -> None:
    """The champion's alias moving while the candidate is watched writes a `follow` revision
    that still has the candidate beside: it is a step as much as the rollout's first one."""
    store = models.store
    service.deploy(store, "churn", "churn@champion", actor="t")  # r1: churn@1
    rollout = _start(models)  # r2
    promote(
        store, models.artifacts, name="churn", version=3, alias="champion", gate=None, actor="t"
    )
    service.follow_aliases(store, actor="t")  # r3: churn@3 + canary churn@2
    _reject(models, rollout)  # r4: churn@3 alone
    assert service.rollout_steps(store, "churn") == {2: rollout.id, 3: rollout.id}
    back = service.rollback(store, "churn", actor="t")
    assert (back.source_revision, back.describe()) == (1, "churn@1")


def test_a_change_by_hand_mid_watch_ends_the_steps(models: Workspace) -> None:
    store = models.store
    service.deploy(store, "churn", "churn@champion", actor="t")  # r1
    rollout = _start(models)  # r2
    service.deploy(store, "churn", "churn@3", actor="t")  # r3 by hand: the rollout ends
    check_rollout(models, rollout.id)
    service.deploy(store, "churn", "churn@1", canary="churn@2", weight=5, actor="t")  # r4
    assert service.rollout_steps(store, "churn") == {2: rollout.id}
    assert service.rollback(store, "churn", actor="t").source_revision == 3
    assert service.rollback(store, "churn", actor="t").source_revision == 1


def test_the_cli_rolls_back_past_a_rejected_rollout_and_says_why_not_to_its_step(
    cli: Any, models: Workspace
) -> None:
    assert cli("deploy", "churn", "churn@champion").exit_code == 0
    started = run_json(
        cli, "rollouts", "start", "churn", "churn@2", "--weight", "20", "--min-sample", "20"
    )
    _reject(models, get_rollout(models.store, started["id"]))

    history = run_json(cli, "endpoints", "history", "churn")
    assert [(r["number"], r["action"], r["current"], r["rollout_step"]) for r in history] == [
        (1, "deploy", None, None),
        (2, "canary", None, started["id"]),
        (3, "revert", "live", None),
    ]
    assert "rollout step" in cli("endpoints", "history", "churn").stdout

    refused = cli("endpoints", "rollback", "churn", "--to", "2")
    assert refused.exit_code == 2 and refused.stdout == ""
    said = " ".join(refused.stderr.split())
    assert "cannot be rolled back to (nothing would watch it now)" in said
    assert "`mloop endpoints rollback churn --to 1`" in said

    back = cli("endpoints", "rollback", "churn")
    assert back.exit_code == 0, back.stderr
    assert "primary=churn@1 100%" in back.stdout and "from_revision=1" in back.stdout
    assert "canary=" not in back.stdout
    shown = run_json(cli, "endpoints", "show", "churn")
    assert shown["live"]["number"] == 4 and shown["live"]["canary"] is None
    assert run_json(cli, "rollouts", "show", started["id"])["status"] == "rolled_back"


def test_the_cli_rolls_back_a_promoted_rollout_to_the_former_champion(
    cli: Any, models: Workspace
) -> None:
    assert cli("deploy", "churn", "churn@champion").exit_code == 0
    started = run_json(
        cli, "rollouts", "start", "churn", "churn@2", "--weight", "20", "--min-sample", "20"
    )
    _promote(models, get_rollout(models.store, started["id"]))
    back = cli("endpoints", "rollback", "churn", "--reason", "churn@2 misbehaves")
    assert back.exit_code == 0, back.stderr
    assert "primary=churn@1 100%" in back.stdout and "from_revision=1" in back.stdout
    assert "canary=" not in back.stdout
    assert _champion(models) == 2, "the alias stays where the rollout moved it"
