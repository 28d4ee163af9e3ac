"""The gates `mloop init` writes fit what a new user trains: noise is not a regression, a
regression model has thresholds of its own, and a holdout too small to mean anything says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from generate import generate

from mloop.errors import InvalidInput
from mloop.registry.gate_config import parse_gate
from mloop.workspace import Workspace
from tests.registry.conftest import DECENT, lines

FOREST = ("--model", "random_forest", "--param", "n_estimators=50")


def _promote(cli: Any, name: str, version: int, *args: str) -> tuple[int, dict[str, Any]]:
    result = cli("models", "promote", name, str(version), "--to", "champion", *args, "--json")
    return result.exit_code, json.loads(result.stdout)


def _check(verdict: dict[str, Any], kind: str) -> dict[str, Any]:
    [check] = [c for c in verdict["checks"] if c["check"] == kind]
    return check


@pytest.fixture
def small(cli: Any, tmp_path: Path) -> Any:
    """345 churn rows: a 69-row holdout, where models a hundredth of AUC apart are noise."""
    path = tmp_path / "small.csv"
    generate(345, seed=0).to_csv(path, index=False)
    assert cli("data", "add", "small", path).exit_code == 0

    def train(*model: str) -> None:
        args = ("--data", "small", "--target", "churned", "--seed", "11", "--register", "small")
        result = cli("train", *args, *model)
        assert result.exit_code == 0, result.stderr

    return train


def test_the_default_gate_lets_a_candidate_within_noise_through(
    cli: Any, small: Any, workspace: Workspace
) -> None:
    small(*DECENT)
    assert _promote(cli, "small", 1)[0] == 0
    small(*FOREST)
    code, verdict = _promote(cli, "small", 2)
    check = _check(verdict, "no_regression")
    assert check["values"]["rows"] == 69
    assert check["values"]["gain"] < 0, "the candidate is a little worse on these rows"
    assert check["values"]["ci_low"] < -0.005 < check["values"]["ci_high"]
    assert "within noise (on_noise = pass)" in check["detail"]
    assert code == 0 and verdict["passed"]


def test_a_gate_that_blocks_on_noise_blocks_the_same_candidate(
    cli: Any, small: Any, workspace: Workspace
) -> None:
    config = workspace.root / "mloop.toml"
    config.write_text(
        config.read_text()
        + '\n[gates.strict]\nno_regression = { tolerance = 0.005, bootstrap = 1000, on_noise = "block" }\n'
    )
    small(*DECENT)
    assert _promote(cli, "small", 1)[0] == 0
    small(*FOREST)
    code, verdict = _promote(cli, "small", 2, "--gate", "strict")
    assert code == 1
    assert "within noise (on_noise = block)" in _check(verdict, "no_regression")["detail"]


def test_the_production_gate_checks_a_regression_model_on_r2(cli: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 2))
    frame = pd.DataFrame(
        {"a": x[:, 0], "b": x[:, 1], "y": 3 * x[:, 0] - x[:, 1] + 0.5 * rng.normal(size=400)}
    )
    frame.to_csv(tmp_path / "line.csv", index=False)
    assert cli("data", "add", "line", tmp_path / "line.csv").exit_code == 0
    trained = cli("train", "--data", "line", "--target", "y", "--register", "line")
    assert trained.exit_code == 0, trained.stderr
    assert cli("models", "approve", "line", "1", "--note", "ok").exit_code == 0
    code, verdict = _promote(cli, "line", 1, "--gate", "production")
    [threshold] = [c for c in verdict["checks"] if c["check"] == "threshold"]
    assert threshold["name"] == "r2 >= 0.3" and threshold["values"]["observed"] > 0.9
    assert code == 0, verdict


def test_a_one_row_holdout_fails_the_default_gate_and_nan_meets_no_threshold(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [2.0, 4.1, 5.9]}).to_csv(
        tmp_path / "t.csv", index=False
    )
    assert cli("data", "add", "t", tmp_path / "t.csv").exit_code == 0
    assert cli("train", "--data", "t", "--target", "y", "--register", "t").exit_code == 0
    code, verdict = _promote(cli, "t", 1)
    size = _check(verdict, "holdout_size")
    assert not size["passed"] and size["values"] == {"rows": 1, "min_rows": 30}
    assert size["detail"].startswith(
        "only 1 labelled holdout row, fewer than the gate's min_holdout_rows = 30"
    )
    assert code == 1
    config = workspace.root / "mloop.toml"
    config.write_text(config.read_text() + '\n[gates.r2]\nthresholds = ["r2 >= -1000"]\n')
    code, verdict = _promote(cli, "t", 1, "--gate", "r2")
    [threshold] = verdict["checks"]
    assert not threshold["passed"] and "undefined on these rows" in threshold["detail"]
    assert threshold["values"]["observed"] is None  # JSON null: PostgreSQL stores no NaN
    assert code == 1


def test_no_rows_are_left_out_of_the_candidate_s_own_split_when_it_is_alone(
    cli: Any, tmp_path: Path
) -> None:
    """Duplicated rows straddle the split; the split is still the rows the candidate held out."""
    frame = generate(300, seed=2).drop(columns="customer_id")
    pd.concat([frame, frame.head(150)]).to_csv(tmp_path / "dup.csv", index=False)
    assert cli("data", "add", "dup", tmp_path / "dup.csv").exit_code == 0
    out = lines(cli("train", "--data", "dup", "--target", "churned", "--register", "dup").stdout)
    code, verdict = _promote(cli, "dup", 1)
    assert verdict["holdout"] == f"held-out split of run {out['run']}"
    assert code == 0


def test_rows_the_candidate_trained_on_are_named_as_the_candidate_s(
    cli: Any, tmp_path: Path
) -> None:
    generate(500, seed=4).to_csv(tmp_path / "c.csv", index=False)
    assert cli("data", "add", "c", tmp_path / "c.csv").exit_code == 0
    assert cli("train", "--data", "c", "--target", "churned", "--register", "c").exit_code == 0
    code, verdict = _promote(cli, "c", 1, "--holdout", "c@1")
    assert (
        verdict["holdout"]
        == "c@1: 100 of 500 rows, 400 left out because the candidate trained on them"
    )
    assert code == 0


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"thresholds": {"regression": "r2 >= 0.3"}}, "thresholds.regression must be a list"),
        ({"thresholds": {"classification": ["auc >> 1"]}}, "'auc >> 1' is not 'METRIC OP NUMBER'"),
        (
            {"min_holdout_rows": 0, "approval": True},
            "min_holdout_rows must be a whole number of rows >= 1, not 0",
        ),
        ({"min_holdout_rows": 2.5}, "min_holdout_rows must be a whole number"),
        (
            {"no_regression": {"on_noise": "maybe"}},
            "no_regression.on_noise: input should be 'block' or 'pass'",
        ),
    ],
)
def test_new_gate_keys_explain_their_mistakes(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_gate("g", raw)


def test_per_task_thresholds_apply_to_their_task_only() -> None:
    gate = parse_gate(
        "g", {"thresholds": {"classification": ["roc_auc >= 0.7"], "regression": ["r2 >= 0.3"]}}
    )
    assert [str(t) for t in gate.thresholds_for("regression")] == ["r2 >= 0.3"]
    assert [str(t) for t in gate.thresholds_for("classification")] == ["roc_auc >= 0.7"]
    plain = parse_gate("g", {"thresholds": ["f1 >= 0.5"]})
    assert [str(t) for t in plain.thresholds_for("regression")] == ["f1 >= 0.5"]


def test_a_rare_class_missing_from_the_holdout_does_not_block_the_default_gate(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    """Three classes' roc_auc needs a row of each; with a rare class only in the training rows
    `auto` compares f1 and says why, instead of refusing a first promotion outright, and a
    roc_auc threshold is not met, saying why, instead of "never logged" (exit 2)."""
    from sklearn.datasets import load_wine

    frame = load_wine(as_frame=True).frame
    frame["target"] = frame["target"].map({0: "barolo", 1: "grignolino", 2: "barbera"})
    frame.loc[frame.index[:2], "target"] = "nebbiolo"  # two rows: both train, as it happens
    frame.to_csv(tmp_path / "wine.csv", index=False)
    assert cli("data", "add", "wine", tmp_path / "wine.csv").exit_code == 0
    args = ("train", "--data", "wine", "--target", "target", "--register", "wine")
    assert cli(*args).exit_code == 0
    code, verdict = _promote(cli, "wine", 1)
    check = _check(verdict, "no_regression")
    assert (
        check["name"] == "f1"
        and "the holdout has no row of the class 'nebbiolo'" in check["detail"]
    )
    assert code == 0, verdict
    assert cli(*args, "--model", "random_forest").exit_code == 0
    code, verdict = _promote(cli, "wine", 2)
    check = _check(verdict, "no_regression")
    assert check["name"] == "f1" and check["values"]["incumbent_version"] == 1
    config = workspace.root / "mloop.toml"
    config.write_text(
        config.read_text() + '\n[gates.auc]\nno_regression = { metric = "roc_auc" }\n'
    )
    refused = cli("models", "promote", "wine", "2", "--to", "stable", "--gate", "auc")
    assert refused.exit_code == 2
    assert "have no row of the class 'nebbiolo'; pass --holdout NAME@V" in refused.stderr
    assert cli("models", "approve", "wine", "2", "--note", "ok").exit_code == 0
    result = cli("models", "promote", "wine", "2", "--to", "prod", "--gate", "production", "--json")
    code, verdict = result.exit_code, json.loads(result.stdout)
    [threshold] = [c for c in verdict["checks"] if c["check"] == "threshold"]
    assert not threshold["passed"], "a bar the rows cannot measure is not met"
    assert "(they have no row of the class 'nebbiolo')" in threshold["detail"]
    assert code == 1
