"""examples/churn as a user runs it when something is off: one sentence and exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_mloop

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "churn"


def _script(name: str, *args: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, EXAMPLES / name, *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def other_table(tmp_path: Path) -> Path:
    path = tmp_path / "iris.csv"
    path.write_text("sepal_length,species\n5.1,setosa\n6.2,virginica\n5.9,versicolor\n")
    return path


def test_train_outside_a_workspace_says_to_init(tmp_path: Path, other_table: Path) -> None:
    result = _script("train.py", "--data", other_table, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "No mloop workspace" in result.stderr and "Traceback" not in result.stderr


def test_train_on_a_table_without_the_churn_columns_adds_nothing(
    tmp_path: Path, other_table: Path
) -> None:
    assert run_mloop("init", ".", cwd=tmp_path).returncode == 0
    result = _script("train.py", "--data", other_table, "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "has no column(s) tenure_months" in result.stderr and "Traceback" not in result.stderr
    assert run_mloop("data", "ls", "--json", cwd=tmp_path).stdout.strip() == "[]"


def test_train_on_an_unknown_dataset_version_is_one_sentence(tmp_path: Path) -> None:
    assert run_mloop("init", ".", cwd=tmp_path).returncode == 0
    result = _script("train.py", "--data", "churn@3", "--out", tmp_path / "out", cwd=tmp_path)
    assert result.returncode == 2
    assert "churn" in result.stderr and "Traceback" not in result.stderr


def test_train_out_must_be_a_folder(tmp_path: Path) -> None:
    assert run_mloop("init", ".", cwd=tmp_path).returncode == 0
    data = tmp_path / "churn.csv"
    assert _script("generate.py", "--rows", "200", "--out", data, cwd=tmp_path).returncode == 0
    result = _script("train.py", "--data", data, "--out", data, cwd=tmp_path)
    assert result.returncode == 2
    assert "--out" in result.stderr and "Traceback" not in result.stderr


def test_generate_refuses_no_rows_and_creates_the_out_folder(tmp_path: Path) -> None:
    empty = _script("generate.py", "--rows", "0", "--out", tmp_path / "c.csv", cwd=tmp_path)
    assert empty.returncode == 2 and "--rows" in empty.stderr
    nested = tmp_path / "data" / "month1" / "churn.csv"
    made = _script("generate.py", "--rows", "50", "--out", nested, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert nested.exists()
