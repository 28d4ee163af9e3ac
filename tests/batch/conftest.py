"""A workspace with a real churn model (trained by the real CLI) and files to score."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mloop.demo_data import generate


@pytest.fixture
def churn_model(cli: Any, tmp_path: Path) -> str:
    """``churn@1``: logistic regression on 1,500 rows of the churn table."""
    path = tmp_path / "train.csv"
    generate(1500, seed=3).to_csv(path, index=False, date_format="%Y-%m-%d")
    assert cli("data", "add", "churn", path).exit_code == 0
    result = cli("train", "--data", "churn", "--target", "churned", "--register", "churn")
    assert result.exit_code == 0, result.stderr
    return "churn@1"


def to_score(rows: int, *, seed: int = 9) -> pd.DataFrame:
    """Next month's customers, without the answer (a file to score has none)."""
    return generate(rows, seed=seed, month=2).drop(columns=["churned"])


@pytest.fixture
def score_csv(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    to_score(500).to_csv(path, index=False, date_format="%Y-%m-%d")
    return path
