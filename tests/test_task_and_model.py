"""`mloop train --task` overrides inference; a model made for the other task is refused, naming the
ones that fit; the estimator that really ran is in the lineage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def table(cli: Any, tmp_path: Path) -> pd.DataFrame:
    """A few-valued integer score (inferred: classes) and a two-valued float (inferred: numbers)."""
    rng = np.random.default_rng(4)
    x = rng.normal(size=400)
    frame = pd.DataFrame(
        {
            "x": x,
            "group": rng.choice(["a", "b"], size=400),
            "score": np.clip(np.round(x * 2 + 3 + rng.normal(0, 0.5, 400)), 0, 6).astype(int),
            "flag": np.where(x + rng.normal(0, 0.3, 400) > 0, 2.5, 1.5),
            "label": np.where(x > 0, "yes", "no"),
        }
    )
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)
    assert cli("data", "add", "t", path).exit_code == 0
    return frame


def _train(cli: Any, *args: str) -> Any:
    return cli("train", "--data", "t", "--json", *args)


def test_task_overrides_inference_both_ways(cli: Any, table: pd.DataFrame) -> None:
    inferred = json.loads(_train(cli, "--target", "score", "--drop", "flag").stdout)
    assert inferred["task"] == "classification"
    regressed = _train(cli, "--target", "score", "--drop", "flag", "--task", "regression")
    assert regressed.exit_code == 0, regressed.stderr
    body = json.loads(regressed.stdout)
    assert body["task"] == "regression" and set(body["metrics"]) == {"mae", "rmse", "r2"}
    assert body["estimator"] == "sklearn.linear_model._ridge.Ridge"  # the regression default

    assert json.loads(_train(cli, "--target", "flag").stdout)["task"] == "regression"
    classified = _train(cli, "--target", "flag", "--task", "classification", "--register", "f")
    assert classified.exit_code == 0, classified.stderr
    body = json.loads(classified.stdout)
    assert body["task"] == "classification" and "roc_auc" in body["metrics"]
    shown = json.loads(cli("models", "show", "f@1", "--json").stdout)
    assert shown["version"]["signature"]["output"]["classes"] == ["1.5", "2.5"]


def test_a_classifier_on_a_regression_target_is_refused_naming_the_models_that_fit(
    cli: Any, table: pd.DataFrame
) -> None:
    refused = _train(cli, "--target", "flag", "--model", "logistic")
    assert refused.exit_code == 2
    message = refused.stderr.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message
    assert "logistic" in message and "regression" in message
    assert "ridge, random_forest, gradient_boosting" in message
    assert json.loads(cli("runs", "ls", "--json").stdout) == []  # refused before a run existed
    ridge_on_classes = _train(cli, "--target", "label", "--model", "ridge")
    assert ridge_on_classes.exit_code == 2
    assert "logistic, random_forest, gradient_boosting" in ridge_on_classes.stderr


def test_text_cannot_be_regressed_on(cli: Any, table: pd.DataFrame) -> None:
    refused = _train(cli, "--target", "label", "--task", "regression")
    assert refused.exit_code == 2
    assert "--task classification" in refused.stderr


def test_an_id_is_refused_as_a_target_before_a_run_exists(cli: Any, tmp_path: Path) -> None:
    """Kaggle's PassengerId is left out as a feature; as a target it trained a meaningless
    regression (r2 about 0) and registered it."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"PassengerId": np.arange(892, 1092), "Fare": rng.exponential(30, 200).round(2)}
    )
    frame["Survived"] = (frame["Fare"] > 25).astype(int)
    frame.to_csv(tmp_path / "titanic.csv", index=False)
    assert cli("data", "add", "titanic", tmp_path / "titanic.csv").exit_code == 0
    refused = cli("train", "--data", "titanic", "--target", "PassengerId", "--register", "t")
    assert refused.exit_code == 2
    assert refused.stderr.strip() == (
        "error: Target 'PassengerId' is an id (named as one, a distinct integer in every row); "
        "choose the column you mean to predict."
    )
    assert json.loads(cli("runs", "ls", "--json").stdout) == []
    fare = cli("train", "--data", "titanic", "--target", "Fare")
    assert fare.exit_code == 0, fare.stderr  # a unique float is a fine target


def test_lineage_records_the_real_estimator(cli: Any, table: pd.DataFrame) -> None:
    trained = _train(
        cli, "--target", "score", "--task", "regression", "--model", "random_forest",
        "--param", "n_estimators=5", "--register", "s",
    )  # fmt: skip
    assert trained.exit_code == 0, trained.stderr
    real = "sklearn.ensemble._forest.RandomForestRegressor"
    graph = json.loads(cli("models", "lineage", "s@1", "--json").stdout)
    assert graph["run"]["estimator"] == real
    assert f"estimator: {real}" in cli("models", "lineage", "s@1").stdout
    assert f"estimator={real}" in cli("models", "show", "s@1").stdout
