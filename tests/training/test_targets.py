"""Targets a new user points ``mloop train`` at: IDs, free text, dates, wide tables, file paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mloop.workspace import Workspace


@pytest.fixture
def people_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    rows = 120
    frame = pd.DataFrame(
        {
            "name": [f"Passenger {i}, Mr. Someone" for i in range(rows)],
            "age": rng.integers(1, 80, rows),
            "fare": rng.gamma(2.0, 10.0, rows).round(2),
            "boarded": pd.date_range("1912-04-01", periods=rows, freq="h").strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "survived": rng.choice(["Yes", "No"], rows),
        }
    )
    path = tmp_path / "people.csv"
    frame.to_csv(path, index=False)
    return path


def _runs(cli: Any) -> list[dict[str, Any]]:
    return list(json.loads(cli("runs", "ls", "--json").stdout))


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("name", "Target 'name' has 120 distinct values in 120 rows"),
        ("boarded", "Target 'boarded' is a datetime column"),
    ],
)
def test_a_target_that_cannot_be_learned_is_refused_before_a_run(
    cli: Any, people_csv: Path, target: str, message: str
) -> None:
    cli("data", "add", "people", people_csv)
    result = cli("train", "--data", "people", "--target", target)
    assert result.exit_code == 2, result.stdout
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "UserWarning" not in result.stderr
    assert _runs(cli) == [], "refused before training: no run at all"


def test_a_few_classes_in_a_tiny_table_still_train(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "tiny.csv"
    path.write_text("x,y\n1,a\n2,a\n3,a\n4,a\n5,b\n")
    cli("data", "add", "tiny", path)
    result = cli("train", "--data", "tiny", "--target", "y")
    assert result.exit_code == 0, result.stderr


def test_a_missing_target_in_a_wide_table_names_the_closest_columns(
    cli: Any, tmp_path: Path
) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.normal(size=(30, 400)), columns=[f"f{i}" for i in range(400)])
    frame["Label"] = rng.choice(["Yes", "No"], 30)
    path = tmp_path / "wide.csv"
    frame.to_csv(path, index=False)
    cli("data", "add", "wide", path)
    result = cli("train", "--data", "wide", "--target", "label")
    assert result.exit_code == 2
    assert "Target column 'label' is not in the dataset" in result.stderr
    assert "did you mean 'Label'?\n" in result.stderr
    assert "f399" not in result.stderr, "401 column names are not one clear sentence"


def test_a_file_path_as_data_says_to_add_it_first(
    cli: Any, people_csv: Path, workspace: Workspace
) -> None:
    result = cli("train", "--data", str(people_csv), "--target", "survived")
    assert result.exit_code == 2
    assert "--data takes a dataset name, not a file" in result.stderr
    assert f"mloop data add NAME {people_csv}" in result.stderr
    (workspace.root / "people.csv").write_bytes(people_csv.read_bytes())
    bare = cli("train", "--data", "people.csv", "--target", "survived")  # in the cwd
    assert bare.exit_code == 2, "people.csv is a valid dataset name, and no dataset has it"
    assert "--data takes a dataset name, not a file" in bare.stderr


def test_infinite_feature_values_are_treated_as_missing(cli: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    income = rng.normal(50, 10, 200)
    frame = pd.DataFrame(
        {
            "debt_ratio": rng.gamma(2.0, 0.2, 200),
            "income": income,
            "default": np.where(income > 50, "No", "Yes"),
        }
    )
    frame.loc[:4, "debt_ratio"] = np.inf  # a ratio divided by a zero income, as real tables have
    path = tmp_path / "loans.csv"
    frame.to_csv(path, index=False)
    cli("data", "add", "loans", path)
    result = cli("train", "--data", "loans", "--target", "default")
    assert result.exit_code == 0, result.stderr


def test_columns_left_out_of_the_features_are_named(cli: Any, people_csv: Path) -> None:
    cli("data", "add", "people", people_csv)
    result = cli("train", "--data", "people", "--target", "survived", "--json")
    assert result.exit_code == 0, result.stderr
    assert "note: not used as features: name, boarded" in result.stderr
    assert json.loads(result.stdout)["features"]["dropped"] == ["name", "boarded"]


def test_a_question_mark_target_is_an_unknown_label_not_a_class(cli: Any, tmp_path: Path) -> None:
    """UCI-style exports write " ?" for an unknown value: those rows are left out of training
    and of the gate's holdout, so the model answers only the real classes."""
    rng = np.random.default_rng(5)
    rows = 300
    age = rng.integers(18, 80, rows)
    income = np.where(age + rng.normal(0, 10, rows) > 45, " >50K", " <=50K").astype(object)
    income[::20] = " ?"
    frame = pd.DataFrame(
        {
            "age": age,
            "hours": rng.normal(40, 8, rows).round(3),
            "workclass": rng.choice([" Private", " ?"], rows),
            "income": income,
        }
    )
    frame.to_csv(tmp_path / "adult.csv", index=False)
    assert cli("data", "add", "adult", tmp_path / "adult.csv").exit_code == 0
    trained = cli("train", "--data", "adult", "--target", "income", "--register", "adult")
    assert trained.exit_code == 0, trained.stderr
    shown = json.loads(cli("models", "show", "adult@1", "--json").stdout)
    assert shown["version"]["signature"]["output"]["classes"] == ["<=50K", ">50K"]
    # the whole table as holdout: the rows the model did not train on, its " ?" ones among
    # them, which are not scored
    gated = cli(
        "models", "promote", "adult", "1", "--to", "champion", "--holdout", "adult@1", "--json"
    )
    assert gated.exit_code == 0, gated.stderr
    out = json.loads(gated.stdout)
    trained_on = 285 - 57  # the 285 labelled rows, less the 20% held out
    assert (
        out["holdout"]
        == f"adult@1: 72 of 300 rows, {trained_on} left out because the candidate trained on them"
    )
    assert out["checks"][0]["values"]["rows"] == 57  # the 15 " ?" rows are not scored


def test_rows_without_a_target_value_are_counted(cli: Any, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"x": rng.normal(size=100), "flag": pd.array([True, False, None, True] * 25)}
    )
    path = tmp_path / "flags.parquet"
    frame.to_parquet(path)
    cli("data", "add", "flags", path)
    result = cli("train", "--data", "flags", "--target", "flag")
    assert result.exit_code == 0, result.stderr
    assert "note: 25 rows of flags@1 with no label in 'flag' (empty or ?) left out" in result.stderr
    labelled = cli("train", "--data", "flags", "--target", "x")
    assert "left out;" not in labelled.stderr
