from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from generate import generate

from mloop.errors import InvalidInput
from mloop.registry.gate_config import parse_gate
from mloop.tracking.runs import get_run
from mloop.workspace import Workspace
from tests.registry.conftest import BETTER, DECENT, lines


def _add_gate(workspace: Workspace, text: str) -> None:
    config = workspace.root / "mloop.toml"
    config.write_text(config.read_text() + "\n" + text + "\n")


def _checks(cli: Any, ref: str) -> list[dict[str, Any]]:
    verdicts = json.loads(cli("models", "show", ref, "--json").stdout)["verdicts"]
    return list(verdicts[-1]["checks"])


def test_segment_parity_that_compared_nothing_does_not_pass(
    cli: Any, train_version: Any, workspace: Workspace
) -> None:
    train_version(*BETTER)
    _add_gate(
        workspace,
        '[gates.fair]\nsegment_parity = { column = "contract", metric = "recall", max_gap = 1, min_rows = 5000 }',
    )
    result = cli("models", "promote", "churn", "1", "--to", "champion", "--gate", "fair")
    assert result.exit_code == 1
    [check] = _checks(cli, "churn@1")
    assert not check["passed"] and "fewer than two segments" in check["detail"]


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


def test_a_holdout_dataset_can_be_named(cli: Any, train_version: Any, tmp_path: Path) -> None:
    train_version(*DECENT)
    later = tmp_path / "later.csv"
    generate(600, seed=99).to_csv(later, index=False)
    assert cli("data", "add", "later", later).exit_code == 0
    result = cli(
        "models", "promote", "churn", "1", "--to", "champion", "--holdout", "later@1", "--json"
    )
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["holdout"] == "later@1"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        # the training rows without their target: no labels is the problem, not "rows seen"
        ("drop", "The holdout (later@1) has no target column 'churned' for churn@1; pass"),
        ("blank", "The holdout (later@1) has no labelled rows: every 'churned' is empty"),
    ],
)
def test_a_holdout_without_labels_is_one_sentence(
    cli: Any, train_version: Any, churn_data: Path, tmp_path: Path, change: str, message: str
) -> None:
    train_version(*DECENT)
    if change == "drop":
        frame = pd.read_csv(churn_data).drop(columns="churned")
    else:
        frame = generate(100, seed=99).assign(churned=None)
    later = tmp_path / "later.csv"
    frame.to_csv(later, index=False)
    assert cli("data", "add", "later", later).exit_code == 0
    result = cli("models", "promote", "churn", "1", "--to", "champion", "--holdout", "later@1")
    assert result.exit_code == 2, result.stderr
    assert message in result.stderr


def _held_out_ids(workspace: Workspace, run_id: str) -> set[str]:
    run = get_run(workspace.store, run_id)
    [blob] = [a.blob_hash for a in run.artifacts if a.path == "holdout.parquet"]
    frame = pd.read_parquet(io.BytesIO(workspace.artifacts.get_bytes(blob)))
    return set(frame["customer_id"])


def test_rows_the_holder_trained_on_are_left_out_of_the_comparison(
    cli: Any, churn_data: Path, workspace: Workspace
) -> None:
    """A holder trained with another seed has seen most of the candidate's held-out rows."""
    runs = []
    for seed, model in (("1", DECENT), ("2", BETTER)):
        out = lines(
            cli(
                "train",
                "--data",
                "churn",
                "--target",
                "churned",
                "--seed",
                seed,
                *model,
                "--register",
                "churn",
            ).stdout
        )
        runs.append(out["run"])
    assert cli("models", "promote", "churn", "1", "--to", "champion").exit_code == 0
    result = cli("models", "promote", "churn", "2", "--to", "champion", "--json")
    assert result.exit_code == 0, result.stderr  # C=1.0 beats C=0.0005 beyond noise
    verdict = json.loads(result.stdout)
    unseen_by_both = _held_out_ids(workspace, runs[0]) & _held_out_ids(workspace, runs[1])
    [check] = [c for c in verdict["checks"] if c["check"] == "no_regression"]
    assert check["values"]["rows"] == len(unseen_by_both) < 400
    assert check["passed"] and check["values"]["ci_low"] > 0
    assert (
        f"{len(unseen_by_both)} of 400 rows, {400 - len(unseen_by_both)} left out because the "
        "current holder trained on them"
    ) in verdict["holdout"]


def test_naming_the_training_data_as_holdout_scores_only_unseen_rows(
    cli: Any, train_version: Any
) -> None:
    train_version(*DECENT)
    result = cli("models", "promote", "churn", "1", "--to", "champion", "--holdout", "churn@1")
    assert result.exit_code == 0, result.stderr
    assert "400 of 2000 rows, 1600 left out because the candidate trained on them" in result.stdout


def test_a_holdout_the_model_almost_wholly_trained_on_is_refused(cli: Any, tmp_path: Path) -> None:
    tiny = tmp_path / "tiny.csv"
    generate(40, seed=3).to_csv(tiny, index=False)
    assert cli("data", "add", "tiny", tiny).exit_code == 0
    train = ("train", "--data", "tiny", "--target", "churned", "--register", "tiny")
    assert cli(*train).exit_code == 0
    result = cli("models", "promote", "tiny", "1", "--to", "champion", "--holdout", "tiny@1")
    assert result.exit_code == 2
    assert "Only 8 of the 40 rows in tiny@1 were not used to train" in result.stderr


def test_a_holdout_whose_unseen_rows_have_no_label_is_refused_not_scored_on_nothing(
    cli: Any, tmp_path: Path
) -> None:
    """Rows without a label were never trained on, so they stay "unseen"; they are not scored
    either, so they do not count towards enough rows (with none labelled, scikit-learn crashed
    on 0 rows)."""
    frame = generate(200, seed=3)
    frame["churned"] = frame["churned"].astype(object)
    frame.loc[frame.index[-20:], "churned"] = None
    data = tmp_path / "half_known.csv"
    frame.to_csv(data, index=False)
    assert cli("data", "add", "known", data).exit_code == 0
    train = ("train", "--data", "known", "--target", "churned", "--test-size", "0.01")
    assert cli(*train, "--register", "known").exit_code == 0
    result = cli("models", "promote", "known", "1", "--to", "champion", "--holdout", "known@1")
    assert result.exit_code == 2, result.stderr
    said = "Only 2 of the 200 rows in known@1 were not used to train the models compared and have"
    assert said in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and "unexpected error" not in result.stderr


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"thresholds": ["f1 => 0.5"]}, "is not 'METRIC OP NUMBER'"),
        ({"latency_p99_ms": -1}, "positive number"),
        ({"no_regression": {"metric": "f1", "tolerence": 0.1}}, "tolerence"),
        ({"segment_parity": {"column": "x"}}, "segment_parity"),
        ({"aproval": True}, "unknown key(s) aproval"),
        (
            {"no_regression": {"tolerance": "abc"}},
            "no_regression.tolerance: input should be a valid number",
        ),
        (
            {"no_regression": {"bootstrap": -3}},
            "bootstrap: input should be greater than or equal to 0",
        ),
        ({"segment_parity": {"column": "c", "metric": "f1", "max_gap": -1}}, "max_gap"),
        ({"segment_parity": {"column": "c", "metrc": "f1", "max_gap": 1}}, "unknown key 'metrc'"),
        ({"approval": "no"}, "approval must be true or false"),
        ({"thresholds": "f1 >= 0.5"}, "thresholds must be a list"),
        ({}, "declares no checks"),
        ({"thresholds": ["rmse <= 6.0.1"]}, "threshold 'rmse <= 6.0.1' is not 'METRIC OP NUMBER'"),
        ({"thresholds": ["f1 >= -"]}, "is not 'METRIC OP NUMBER'"),
        ({"latency_p99_ms": True}, "positive number of milliseconds, not True"),
    ],
)
def test_gate_config_mistakes_are_one_sentence(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_gate("g", raw)


def test_auto_compares_f1_when_a_classifier_has_no_probabilities(
    cli: Any, train_version: Any
) -> None:
    train_version(*DECENT)
    assert cli("models", "promote", "churn", "1", "--to", "champion").exit_code == 0
    train_version("--model", "sklearn.svm:LinearSVC")
    result = cli("models", "promote", "churn", "2", "--to", "champion", "--json")
    assert result.exit_code == 0, result.stderr  # the holder's f1 is 0: it predicts one class
    [check] = [c for c in json.loads(result.stdout)["checks"] if c["check"] == "no_regression"]
    assert check["name"] == "f1" and check["values"]["rows"] == 400
    assert check["passed"] and check["values"]["incumbent"] == 0


def test_a_holder_that_reads_columns_the_holdout_lacks_is_named(
    cli: Any, train_version: Any, churn_data: Path, tmp_path: Path
) -> None:
    """Versions trained on different tables: the holder cannot be scored on the candidate's rows."""
    train_version(*DECENT)
    assert cli("models", "promote", "churn", "1", "--to", "champion").exit_code == 0
    fewer = tmp_path / "fewer.csv"
    pd.read_csv(churn_data).drop(columns=["monthly_charges"]).to_csv(fewer, index=False)
    assert cli("data", "add", "fewer", fewer).exit_code == 0
    args = ("--target", "churned", "--seed", "3", "--register", "churn")
    assert cli("train", "--data", "fewer", *args).exit_code == 0
    result = cli("models", "promote", "churn", "2", "--to", "champion")
    assert result.exit_code == 2, result.stderr
    assert "churn@1 (churn@champion now) reads monthly_charges, which the holdout" in result.stderr
    assert "--holdout" in result.stderr and "Traceback" not in result.stderr


def test_a_segment_where_the_metric_is_undefined_is_reported_not_an_input_error(
    cli: Any, train_version: Any, workspace: Workspace, tmp_path: Path
) -> None:
    """roc_auc of a segment whose rows are all one class is undefined; the gate still answers."""
    train_version(*BETTER)
    frame = generate(600, seed=99)
    frame["cohort"] = np.where(frame["churned"].astype(bool), "mixed", "pure")
    frame.loc[frame.index[::2], "cohort"] = "mixed"
    later = tmp_path / "later.csv"
    frame.to_csv(later, index=False)
    assert cli("data", "add", "later", later).exit_code == 0
    _add_gate(
        workspace,
        '[gates.fair]\nsegment_parity = [{ column = "cohort", metric = "roc_auc", max_gap = 0.5 }]',
    )
    promote = ("models", "promote", "churn", "1", "--to", "champion", "--gate", "fair")
    result = cli(*promote, "--holdout", "later@1")
    assert result.exit_code == 1, result.stderr
    [check] = _checks(cli, "churn@1")
    assert not check["passed"]
    assert "roc_auc is undefined in: pure" in check["detail"]
