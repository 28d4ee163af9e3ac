"""Starting and deciding rollouts against the store (SQLite and PostgreSQL): what is written,
what is refused, and a watch that ends with too little traffic rejecting the candidate."""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

import pytest
import sqlalchemy as sa

from mloop.audit import list_entries
from mloop.endpoints.service import deploy, get_endpoint, history
from mloop.errors import AlreadyExists, InvalidInput, NotFound
from mloop.registry.promotion import list_verdicts, promote
from mloop.registry.versions import resolve
from mloop.rollouts import (
    RolloutConfig,
    active_rollout,
    check_rollout,
    get_rollout,
    list_rollouts,
    start_rollout,
)
from mloop.store import tables as t
from mloop.workspace import Workspace
from tests.rollouts import models

CONFIG = RolloutConfig(weight=30, min_sample=20, watch_seconds=600.0)


@pytest.fixture
def champion(workspace: Workspace) -> Workspace:
    """churn@1 as churn@production, served at endpoint ``churn`` through the alias; churn@2 waits."""
    models.healthy(workspace, c=1.0)
    models.healthy(workspace, c=0.3)
    promote(
        workspace.store,
        workspace.artifacts,
        name="churn",
        version=1,
        alias="production",
        gate=None,
        actor="tester",
    )
    deploy(workspace.store, "churn", "churn@production", actor="tester")
    return workspace


def start(ws: Workspace, **options: Any) -> Any:
    settings = {"endpoint": "churn", "candidate": "churn@2", "config": CONFIG, "actor": "agent"}
    settings.update(options)
    return start_rollout(ws, **settings)


def test_start_serves_the_candidate_as_a_canary_beside_the_champion(champion: Workspace) -> None:
    rollout = start(champion, verdict_id=None)
    assert (rollout.status, rollout.candidate, rollout.champion) == (
        "watching",
        "churn@2",
        "churn@1",
    )
    assert (rollout.weight, rollout.min_sample, rollout.started_revision) == (30, 20, 2)
    live = get_endpoint(champion.store, "churn").live
    assert live is not None and live.number == 2 and live.action == "canary"
    assert live.describe() == "churn@1 (production) + canary churn@2 30%"
    assert live.reason is not None and rollout.id in live.reason
    assert active_rollout(champion, "churn") == rollout
    assert active_rollout(champion, "other") is None
    entries = [e for e in list_entries(champion.store) if e.action == "rollout_start"]
    assert len(entries) == 1 and entries[0].details["rollout"] == rollout.id
    assert (entries[0].from_value, entries[0].to_value) == ("churn@1", "churn@2")
    assert json.loads(json.dumps(rollout.to_dict()))["status"] == "watching"


def test_a_shadow_rollout_mirrors_traffic_to_the_candidate(champion: Workspace) -> None:
    rollout = start(champion, config=RolloutConfig(strategy="shadow", min_sample=20))
    live = get_endpoint(champion.store, "churn").live
    assert live is not None and live.describe() == "churn@1 (production) + shadow churn@2"
    assert (rollout.strategy, rollout.weight) == ("shadow", None)


def test_refusals_write_nothing(champion: Workspace) -> None:
    with pytest.raises(InvalidInput, match="is the champion churn@1"):
        start(champion, candidate="churn@1")
    with pytest.raises(NotFound, match="No endpoint named 'nope'"):
        start(champion, endpoint="nope")
    with pytest.raises(NotFound):
        start(champion, candidate="churn@9")
    assert len(history(champion.store, "churn")) == 1
    first = start(champion)
    with pytest.raises(
        AlreadyExists, match=f"already rolling out churn@2 \\(rollout {first.id}\\)"
    ):
        start(champion)
    deploy(champion.store, "manual", "churn@1", canary="churn@2", weight=10, actor="tester")
    with pytest.raises(InvalidInput, match="starts from the champion alone"):
        start(champion, endpoint="manual")


def test_a_watch_that_ends_short_of_min_sample_rolls_back_and_rejects_the_candidate(
    champion: Workspace,
) -> None:
    rollout = start(champion, verdict_id=None)
    early = check_rollout(champion, rollout.id, now=rollout.started_at + dt.timedelta(minutes=1))
    assert (early.status, early.reason) == ("watching", "0 of 20 requests so far")
    due = rollout.started_at + dt.timedelta(seconds=601)
    decided = check_rollout(champion, rollout.id, now=due)
    assert decided.status == "rolled_back"
    assert decided.reason is not None
    assert "0 of 20 requests in 10m: too few for a verdict" in decided.reason
    assert decided.decided_revision == 3
    revisions = history(champion.store, "churn")
    assert [r.action for r in revisions] == ["deploy", "canary", "revert"]
    assert revisions[-1].describe() == "churn@1 (production)"  # still following the alias
    # the candidate is marked rejected with the figures; the alias never moved
    verdicts = list_verdicts(champion.store, resolve(champion.store, "churn@2"))
    assert [(v["gate"], v["passed"]) for v in verdicts] == [("guardrails", False)]
    assert verdicts[0]["rollout"] == rollout.id and verdicts[0]["requests"] == 0
    assert resolve(champion.store, "churn@production").version == 1
    entry = next(e for e in list_entries(champion.store) if e.action == "rollout_rolled_back")
    assert entry.verdict_id == verdicts[0]["id"]
    assert entry.details["figures"]["requests"] == 0
    assert active_rollout(champion, "churn") is None
    # idempotent: checking again changes nothing
    assert check_rollout(champion, rollout.id, now=due + dt.timedelta(hours=1)) == decided
    assert len(history(champion.store, "churn")) == 3
    # and the endpoint is free for the next rollout
    assert start(champion).started_revision == 4


def test_an_endpoint_changed_by_hand_ends_the_rollout_without_touching_it(
    champion: Workspace,
) -> None:
    rollout = start(champion)
    deploy(champion.store, "churn", "churn@production", actor="someone", reason="enough")
    # the next check, long before the verdict is due, not only the one at the end of the watch
    decided = check_rollout(champion, rollout.id)
    assert decided.status == "rolled_back"
    assert decided.reason is not None and "changed while the rollout was watched" in decided.reason
    assert decided.decided_revision is None
    assert len(history(champion.store, "churn")) == 3


def test_list_and_find_by_prefix(champion: Workspace) -> None:
    rollout = start(champion)
    assert [r.id for r in list_rollouts(champion.store)] == [rollout.id]
    assert list_rollouts(champion.store, endpoint="other") == []
    assert get_rollout(champion.store, rollout.id[:12]).id == rollout.id
    with pytest.raises(NotFound, match="No rollout 'zzzz'"):
        get_rollout(champion.store, "zzzz")
    with pytest.raises(InvalidInput, match="is not a rollout id"):
        get_rollout(champion.store, "../x")
    with champion.store.read() as conn:
        row = conn.execute(sa.select(t.rollouts).where(t.rollouts.c.id == rollout.id)).one()
    assert row.guardrails == ["error_rate <= 0.01", "rejection_rate <= 0.05"]


def test_the_cli_lists_shows_and_checks(champion: Workspace, cli: Any) -> None:
    rollout = start(champion, config=RolloutConfig(min_sample=20, watch_seconds=0.2))
    listed = cli("rollouts", "ls", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert [r["id"] for r in json.loads(listed.stdout)] == [rollout.id]
    shown = cli("rollouts", "show", rollout.id, "--json")
    assert json.loads(shown.stdout)["candidate"] == "churn@2"
    time.sleep(0.3)
    checked = cli("rollouts", "check", rollout.id)
    assert checked.exit_code == 1  # rolled back: a check failed
    assert "rolled_back" in checked.stdout and "0 of 20 requests" in checked.stdout
    table = cli("rollouts", "ls", "--endpoint", "churn")
    assert rollout.id in table.stdout and "rolled_back" in table.stdout
    model = cli("models", "show", "churn@2")  # the rejected verdict reads like any gate's
    assert model.exit_code == 0, model.stderr
    assert "gate guardrails" in model.stdout and "FAILED" in model.stdout
    assert "error_rate <= 0.01" in model.stdout
    missing = cli("rollouts", "show", "zzzz")
    assert missing.exit_code == 2 and "No rollout 'zzzz'" in missing.stderr


def test_the_cli_starts_a_rollout_by_hand(champion: Workspace, cli: Any) -> None:
    started = cli(
        "rollouts", "start", "churn", "churn@2", "--weight", "40", "--min-sample", "30",
        "--watch", "5m", "--guardrail", "error_rate <= 0.02", "--json",
    )  # fmt: skip
    assert started.exit_code == 0, started.stderr
    body = json.loads(started.stdout)
    assert body["status"] == "watching" and body["candidate"] == "churn@2"
    assert body["weight"] == 40 and body["min_sample"] == 30
    state = get_endpoint(champion.store, "churn")
    assert state.live is not None and state.live.canary_weight == 40
    again = cli("rollouts", "start", "churn", "churn@2")
    assert again.exit_code == 2 and "already rolling out" in again.stderr


def test_the_cli_refuses_a_bad_guardrail_and_starts_nothing(champion: Workspace, cli: Any) -> None:
    bad = cli("rollouts", "start", "churn", "churn@2", "--guardrail", "errors are rare")
    assert bad.exit_code == 2 and "METRIC OP NUMBER" in bad.stderr
    assert active_rollout(champion, "churn") is None


def test_two_checkers_racing_decide_the_rollout_once(champion: Workspace) -> None:
    import concurrent.futures

    rollout = start(champion)
    due = rollout.due_at + dt.timedelta(seconds=1)

    def check(_: int) -> str:
        with Workspace.open(champion.root, environ=_environ(champion)) as ws:
            decided = check_rollout(ws, rollout.id, now=due)
        return f"{decided.status} r{decided.decided_revision}"

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        seen = set(pool.map(check, range(4)))
    assert seen == {"rolled_back r3"}
    assert [r.action for r in history(champion.store, "churn")] == ["deploy", "canary", "revert"]
    verdicts = list_verdicts(champion.store, resolve(champion.store, "churn@2"))
    assert len(verdicts) == 1
    decided = [e for e in list_entries(champion.store) if e.action == "rollout_rolled_back"]
    assert len(decided) == 1


def _environ(ws: Workspace) -> dict[str, str]:
    return {"MLOOP_STORE_URL": ws.settings.store_url, "MLOOP_USER": "checker"}
