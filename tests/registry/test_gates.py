from __future__ import annotations

import json
from typing import Any

import pytest

from mloop.errors import InvalidInput
from mloop.registry.gate_config import parse_gate
from mloop.workspace import Workspace
from tests.registry.conftest import BETTER, DECENT


def _add_gate(workspace: Workspace, text: str) -> None:
    config = workspace.root / "mloop.toml"
    config.write_text(config.read_text() + "\n" + text + "\n")


def _checks(cli: Any, ref: str) -> list[dict[str, Any]]:
    verdicts = json.loads(cli("models", "show", ref, "--json").stdout)["verdicts"]
    return list(verdicts[-1]["checks"])


@pytest.mark.parametrize(("max_gap", "exit_code"), [(0.001, 1), (1.0, 0)])
def test_segment_parity_gap_decides(
    cli: Any, train_version: Any, workspace: Workspace, max_gap: float, exit_code: int
) -> None:
    train_version(*BETTER)  # predicts both classes, so recall differs by contract
    _add_gate(
        workspace,
        f'[gates.fair]\nsegment_parity = [{{ column = "contract", metric = "recall", max_gap = {max_gap}, min_rows = 20 }}]',
    )
    result = cli("models", "promote", "churn", "1", "--to", "champion", "--gate", "fair")
    assert result.exit_code == exit_code, result.stderr
    [check] = _checks(cli, "churn@1")
    assert check["check"] == "segment_parity"
    assert set(check["values"]["segments"]) <= {"Month-to-month", "One year", "Two year"}
    assert check["values"]["gap"] > 0.001


@pytest.mark.parametrize(("budget", "exit_code"), [(0.0001, 1), (5000, 0)])
def test_latency_budget_is_measured_on_the_candidate(
    cli: Any, train_version: Any, workspace: Workspace, budget: float, exit_code: int
) -> None:
    train_version(*DECENT)
    _add_gate(workspace, f"[gates.fast]\nlatency_p99_ms = {budget}")
    result = cli("models", "promote", "churn", "1", "--to", "staging", "--gate", "fast")
    assert result.exit_code == exit_code
    [check] = _checks(cli, "churn@1")
    assert check["check"] == "latency" and check["values"]["p99_ms"] > 0


def test_thresholds_are_checked_on_the_rescored_holdout(
    cli: Any, train_version: Any, workspace: Workspace
) -> None:
    train_version(*DECENT)
    _add_gate(workspace, '[gates.strict]\nthresholds = ["roc_auc >= 0.99", "log_loss <= 5"]')
    result = cli("models", "promote", "churn", "1", "--to", "champion", "--gate", "strict")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in _checks(cli, "churn@1")}
    assert not checks["roc_auc >= 0.99"]["passed"] and checks["log_loss <= 5"]["passed"]
    assert "(holdout)" in checks["roc_auc >= 0.99"]["detail"]


def test_a_holdout_dataset_can_be_named(cli: Any, train_version: Any, churn_data: Any) -> None:
    train_version(*DECENT)
    result = cli(
        "models", "promote", "churn", "1", "--to", "champion", "--holdout", "churn@1", "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["holdout"] == "churn@1"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"thresholds": ["f1 => 0.5"]}, "is not 'METRIC OP NUMBER'"),
        ({"latency_p99_ms": -1}, "positive number"),
        ({"no_regression": {"metric": "f1", "tolerence": 0.1}}, "tolerence"),
        ({"segment_parity": {"column": "x"}}, "segment_parity"),
        ({"aproval": True}, "unknown key(s) aproval"),
    ],
)
def test_gate_config_mistakes_are_one_sentence(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_gate("g", raw)
