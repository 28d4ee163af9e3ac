"""Two real processes moving one alias at once end in a consistent state."""

from __future__ import annotations

import contextlib
import itertools
import json
import multiprocessing
from typing import Any

from mloop.errors import AlreadyExists, InvalidInput
from mloop.workspace import Workspace
from tests.registry.conftest import DECENT, WORSE


def _promoter(root: str, store_url: str, order: list[int], rounds: int) -> None:
    from mloop.registry.promotion import promote

    ws = Workspace.open(root, environ={"MLOOP_STORE_URL": store_url})
    for i in range(rounds):
        with contextlib.suppress(AlreadyExists, InvalidInput):
            # losing the race, or the alias already holding this version, both leave a consistent state
            promote(
                ws.store,
                ws.artifacts,
                name="churn",
                version=order[i % 2],
                alias="staging",
                gate=None,
                actor=f"p{order[0]}",
            )
    ws.close()


def test_concurrent_promotions_keep_alias_and_history_consistent(
    cli: Any, train_version: Any, workspace: Workspace
) -> None:
    train_version(*DECENT)
    train_version(*WORSE)
    ctx = multiprocessing.get_context("spawn")
    args = (str(workspace.root), workspace.settings.store_url)
    procs = [ctx.Process(target=_promoter, args=(*args, order, 25)) for order in ([1, 2], [2, 1])]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(180)
        assert proc.exitcode == 0
    moves = json.loads(cli("models", "history", "churn", "--alias", "staging", "--json").stdout)
    assert len(moves) >= 2
    for before, after in itertools.pairwise(moves):
        assert after["from_version"] == before["to_version"], (
            "every move starts where the last one ended"
        )
    holder = json.loads(cli("models", "show", "churn@staging", "--json").stdout)["version"][
        "version"
    ]
    assert holder == moves[-1]["to_version"]
    audit = json.loads(cli("audit", "--model", "churn", "--json").stdout)
    assert sum(e["action"] == "promote" for e in audit) == len(moves)


def test_a_promotion_that_loses_the_race_keeps_its_verdict_and_an_audit_entry(
    cli: Any, train_version: Any, workspace: Workspace, monkeypatch: Any
) -> None:
    """Alice's gate is running when Bob moves the alias: her attempt must not vanish."""
    from mloop.registry import promotion

    train_version(*DECENT)
    train_version(*WORSE)
    real_evaluate = promotion.evaluate_gate

    def bob_promotes_meanwhile(*args: Any, **kwargs: Any) -> Any:
        monkeypatch.setattr(promotion, "evaluate_gate", real_evaluate)
        promotion.promote(
            workspace.store,
            workspace.artifacts,
            name="churn",
            version=1,
            alias="champion",
            gate=None,
            actor="bob",
        )
        return real_evaluate(*args, **kwargs)

    monkeypatch.setattr(promotion, "evaluate_gate", bob_promotes_meanwhile)
    lost = cli("models", "promote", "churn", "2", "--to", "champion", "--reason", "alice: v2")
    assert lost.exit_code == 2
    assert "moved while this request was being checked" in lost.stderr

    shown = json.loads(cli("models", "show", "churn@2", "--json").stdout)
    assert [(v["gate"], v.get("conflict")) for v in shown["verdicts"]] == [("default", True)]
    audit = json.loads(cli("audit", "--model", "churn", "--json").stdout)
    conflict = [e for e in audit if e["action"] == "promote_conflict"]
    assert len(conflict) == 1
    assert conflict[0]["to_value"] == "churn@2" and conflict[0]["reason"] == "alice: v2"
    assert conflict[0]["verdict_id"] == shown["verdicts"][0]["id"]
    history = json.loads(cli("models", "history", "churn", "--json").stdout)
    assert [(m["to_version"], m["actor"]) for m in history] == [(1, "bob")]
    assert "NOT APPLIED" in cli("models", "show", "churn@2").stdout
