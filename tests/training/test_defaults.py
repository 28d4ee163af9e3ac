"""The built-in models start from practitioner defaults, say them in --help, record them on the
run, and a forest that fitted on every core predicts single rows without a worker pool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mloop.api import load_model
from mloop.workspace import Workspace
from tests.conftest import run_mloop


def test_a_forest_fits_with_the_defaults_and_predicts_without_a_pool(
    cli: Any, churn_csv: Path, workspace: Workspace
) -> None:
    assert cli("data", "add", "churn", churn_csv).exit_code == 0
    args = ("--data", "churn", "--target", "churned", "--model", "random_forest", "--json")
    result = cli("train", *args, "--register", "churn")
    assert result.exit_code == 0, result.stderr
    forest = load_model("churn@1", workspace=workspace).model.named_steps["model"]
    assert (forest.n_estimators, forest.min_samples_leaf) == (100, 0.0001)
    assert forest.n_jobs == 1, "single-row predictions must not start a pool of workers"
    run = json.loads(cli("runs", "show", json.loads(result.stdout)["run"], "--json").stdout)
    assert {k: run["params"][k] for k in ("n_estimators", "min_samples_leaf", "n_jobs")} == {
        "n_estimators": 100,
        "min_samples_leaf": 0.0001,
        "n_jobs": -1,  # what it fitted with
    }


def test_a_chosen_n_jobs_is_kept(cli: Any, churn_csv: Path, workspace: Workspace) -> None:
    assert cli("data", "add", "churn", churn_csv).exit_code == 0
    args = ("--data", "churn", "--target", "churned", "--model", "random_forest")
    more = ("--param", "n_jobs=2", "--param", "n_estimators=10", "--register", "churn")
    assert cli("train", *args, *more).exit_code == 0
    forest = load_model("churn@1", workspace=workspace).model.named_steps["model"]
    assert (forest.n_jobs, forest.n_estimators) == (2, 10)


def test_train_help_states_the_defaults(tmp_path: Path) -> None:
    shown = run_mloop("train", "--help", cwd=tmp_path, env={"COLUMNS": "400"})
    assert shown.returncode == 0, shown.stderr
    assert (
        "random_forest: n_estimators=100, min_samples_leaf=0.0001, n_jobs=-1 while fitting"
        in " ".join(shown.stdout.split())
    )
