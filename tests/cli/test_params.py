"""`--param KEY=VALUE` reads Python literals, so `C=inf` is infinity, not the text "inf"."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest

from mloop.cli.params import parse_params
from mloop.errors import InvalidInput

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "churn"))
from generate import generate


def test_values_are_python_literals_first_and_text_otherwise() -> None:
    params = parse_params(
        [
            "C=inf",
            "low=-inf",
            "max_depth=None",
            "class_weight=balanced",
            "solver='saga'",
            "hidden=(64, 32)",
            "early_stopping=true",
            "warm_start=False",
            "n_estimators=300",
            "tol=1e-3",
            'weights={"a": 1}',
        ]
    )
    assert params == {
        "C": math.inf,
        "low": -math.inf,
        "max_depth": None,
        "class_weight": "balanced",
        "solver": "saga",
        "hidden": (64, 32),
        "early_stopping": True,
        "warm_start": False,
        "n_estimators": 300,
        "tol": 0.001,
        "weights": {"a": 1},
    }
    assert math.isnan(parse_params(["alpha=nan"])["alpha"])


@pytest.mark.parametrize("pair", ["C", "=3", "max depth=3"])
def test_a_pair_without_a_parameter_name_says_what_to_write(pair: str) -> None:
    with pytest.raises(InvalidInput, match=re.escape("write e.g. --param C=0.5")):
        parse_params([pair])


@pytest.fixture
def churn(cli: Any, tmp_path: Path) -> None:
    generate(400, seed=1).to_csv(tmp_path / "churn.csv", index=False)
    assert cli("data", "add", "churn", tmp_path / "churn.csv").exit_code == 0


def test_c_inf_trains_an_unregularised_model_and_is_recorded(cli: Any, churn: None) -> None:
    result = cli("train", "--data", "churn", "--target", "churned", "--param", "C=inf", "--json")
    assert result.exit_code == 0, result.stderr
    shown = json.loads(cli("runs", "show", json.loads(result.stdout)["run"], "--json").stdout)
    assert shown["params"]["C"] in (math.inf, "inf", "Infinity")


def test_a_value_scikit_learn_refuses_is_one_sentence_before_training(
    cli: Any, churn: None
) -> None:
    result = cli("train", "--data", "churn", "--target", "churned", "--param", "C=abc")
    assert result.exit_code == 2
    assert "The 'C' parameter of LogisticRegression must be a float" in result.stderr
    assert "read as Python literals: C=0.5, C=inf" in result.stderr
    assert "Traceback" not in result.stderr
    assert json.loads(cli("runs", "ls", "--json").stdout) == []  # refused before a run started
