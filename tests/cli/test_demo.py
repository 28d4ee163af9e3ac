"""`mloop demo --data-only DIR`: the README tour's files for someone who has only the package."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.conftest import run_mloop


def test_data_only_writes_the_tours_files(tmp_path: Path) -> None:
    done = run_mloop("demo", "--data-only", "tour", "--rows", "300", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    month1 = pd.read_csv(tmp_path / "tour" / "churn.csv")
    month2 = pd.read_csv(tmp_path / "tour" / "next-month.csv")
    assert len(month1) == len(month2) == 300 and "churned" in month1
    assert "Crypto wallet" in set(month2["payment_method"]) - set(month1["payment_method"])


def test_it_never_overwrites_a_file(tmp_path: Path) -> None:
    (tmp_path / "churn.csv").write_text("mine\n")
    done = run_mloop("demo", "--data-only", ".", cwd=tmp_path)
    assert done.returncode == 2 and "already exists" in done.stderr
    assert (tmp_path / "churn.csv").read_text() == "mine\n"


def test_the_story_refuses_a_folder_that_is_not_empty(tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me\n")
    done = run_mloop("demo", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 2 and "not an empty folder" in done.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["mine.txt"]
