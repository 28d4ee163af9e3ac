"""Promotion in two steps: evaluate the gate (reads only), apply the verdict in the caller's
transaction. A caller can make the alias move part of its own atomic step; rolling that step back
leaves no move, verdict or audit entry; a verdict applied after the alias moved elsewhere moves
nothing and says so, on the record."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from mloop import audit
from mloop.registry.gate_config import Gate, Threshold
from mloop.registry.promotion import apply_verdict, evaluate_promotion, list_verdicts
from mloop.registry.versions import resolve
from mloop.workspace import Workspace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "churn"))

from generate import generate

OPEN = Gate(name="open")  # no checks: passes, so each test is about the writing, not the gate


@pytest.fixture
def two_versions(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "churn.csv"
    generate(400, seed=2).to_csv(path, index=False)
    assert cli("data", "add", "churn", path).exit_code == 0
    for c in ("0.01", "1.0"):
        trained = cli("train", "--data", "churn", "--target", "churned", "--param", f"C={c}",
                      "--register", "churn")  # fmt: skip
        assert trained.exit_code == 0, trained.stderr


def _verdict(ws: Workspace, version: int, gate: Gate = OPEN) -> Any:
    return evaluate_promotion(
        ws.store, ws.artifacts, name="churn", version=version, alias="champion", gate=gate,
        actor="tester",
    )  # fmt: skip


def _holder(ws: Workspace) -> int | None:
    try:
        return resolve(ws.store, "churn@champion").version
    except Exception:
        return None


def _actions(ws: Workspace) -> list[str]:
    return [e.action for e in audit.list_entries(ws.store)]


def test_evaluating_writes_nothing(workspace: Workspace, two_versions: None) -> None:
    before = _actions(workspace)
    verdict = _verdict(workspace, 1)
    assert verdict.passed and verdict.incumbent is None
    assert _actions(workspace) == before and _holder(workspace) is None
    assert list_verdicts(workspace.store, verdict.candidate) == []


def test_the_move_commits_with_the_callers_own_writes(
    workspace: Workspace, two_versions: None
) -> None:
    verdict = _verdict(workspace, 1)
    with workspace.store.transaction() as conn:
        result = apply_verdict(conn, workspace.store, verdict)
        audit.record(conn, actor="tester", action="deploy", subject="churn@champion")
    assert result.moved and not result.conflict
    assert _holder(workspace) == 1
    assert _actions(workspace)[-2:] == ["promote", "deploy"]
    assert [v["passed"] for v in list_verdicts(workspace.store, verdict.candidate)] == [True]


def test_rolling_back_the_callers_transaction_leaves_no_move(
    workspace: Workspace, two_versions: None
) -> None:
    before = _actions(workspace)
    verdict = _verdict(workspace, 1)
    with (
        pytest.raises(RuntimeError, match="deploy failed"),
        workspace.store.transaction() as conn,
    ):
        assert apply_verdict(conn, workspace.store, verdict).moved
        raise RuntimeError("deploy failed")
    assert _holder(workspace) is None
    assert _actions(workspace) == before
    assert list_verdicts(workspace.store, verdict.candidate) == []


def test_a_verdict_applied_after_the_alias_moved_is_a_recorded_conflict(
    workspace: Workspace, two_versions: None
) -> None:
    stale = _verdict(workspace, 2)  # checked while champion was unset
    with workspace.store.transaction() as conn:  # meanwhile another process promotes v1
        apply_verdict(conn, workspace.store, _verdict(workspace, 1))
    with workspace.store.transaction() as conn:
        result = apply_verdict(conn, workspace.store, stale)
    assert result.conflict and not result.moved
    assert _holder(workspace) == 1
    assert _actions(workspace)[-1] == "promote_conflict"
    (stored,) = list_verdicts(workspace.store, stale.candidate)
    assert stored["conflict"] is True


def test_a_failed_gate_is_stored_and_audited_but_moves_nothing(
    workspace: Workspace, two_versions: None
) -> None:
    impossible = Gate(name="strict", thresholds=(Threshold(metric="accuracy", op=">=", value=2.0),))
    verdict = _verdict(workspace, 1, impossible)
    assert not verdict.passed
    with workspace.store.transaction() as conn:
        result = apply_verdict(conn, workspace.store, verdict)
    assert not result.moved and _holder(workspace) is None
    assert _actions(workspace)[-1] == "gate_failed"
