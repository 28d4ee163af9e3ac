from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "churn"))

from generate import generate

# Three models of known quality on the same data and seed, so all share one held-out split:
# v1 decent, v2 deliberately worse (a single stump), v3 better than v1.
DECENT = ("--model", "logistic", "--param", "C=0.0005")
WORSE = ("--model", "random_forest", "--param", "n_estimators=1", "--param", "max_depth=1")
BETTER = ("--model", "logistic", "--param", "C=1.0")


def lines(stdout: str) -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in stdout.strip().splitlines()
        if "=" in line and " " not in line.split("=", 1)[0]
    )


@pytest.fixture
def churn_data(cli: Any, tmp_path: Path) -> Path:
    path = tmp_path / "churn.csv"
    generate(2000, seed=5).to_csv(path, index=False)
    result = cli("data", "add", "churn", path)
    assert result.exit_code == 0, result.stderr
    return path


@pytest.fixture
def train_version(cli: Any, churn_data: Path) -> Any:
    def train(*model_args: str) -> dict[str, str]:
        result = cli(
            "train",
            "--data",
            "churn",
            "--target",
            "churned",
            "--seed",
            "11",
            *model_args,
            "--register",
            "churn",
        )
        assert result.exit_code == 0, result.stderr
        return lines(result.stdout)

    return train
