"""A CSV separated by ``", "`` (UCI's adult) reads as its values, not as values with a space."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mloop.data.datasets import add_version
from mloop.workspace import Workspace

_ADULT = (
    "age, workclass, fnlwgt, income\n"
    "39, State-gov, 77516, <=50K\n"
    "50, ?, 83311, >50K\n"
    "38, Private, ?, <=50K\n"
    "53, Private, NA, >50K\n"
)


def test_values_and_names_lose_the_space_after_the_comma(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "adult.csv"
    path.write_text(_ADULT)
    schema = add_version(
        workspace.store, workspace.artifacts, name="adult", path=path, actor="t"
    ).version.schema
    columns = {c.name: c for c in schema.columns}
    assert list(columns) == ["age", "workclass", "fnlwgt", "income"]
    assert columns["fnlwgt"].type == "integer"
    assert columns["fnlwgt"].nullable
    assert columns["income"].allowed == ["<=50K", ">50K"]


def test_a_value_with_its_own_leading_space_keeps_it(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,y\n a,1\nb,2\nb,3\n")
    schema = add_version(
        workspace.store, workspace.artifacts, name="t", path=path, actor="t"
    ).version.schema
    assert schema.columns[0].allowed == [" a", "b"]


def test_a_spaced_file_trains_and_scores_in_chunks(cli: Any, tmp_path: Path) -> None:
    rows = [
        f"{20 + i % 50}, {['Private', 'State-gov', '?'][i % 3]}, {1000 + i * 7}, "
        f"{'>50K' if i % 2 else '<=50K'}"
        for i in range(60)
    ]
    path = tmp_path / "adult.csv"
    path.write_text("age, workclass, fnlwgt, income\n" + "\n".join(rows) + "\n")
    assert cli("data", "add", "adult", path).exit_code == 0
    trained = cli("train", "--data", "adult", "--target", "income", "--register", "a")
    assert trained.exit_code == 0, trained.stderr
    batch = tmp_path / "batch.csv"
    batch.write_text("age, workclass, fnlwgt\n40, Private, 1100\n41, ?, 1200\n")
    out = tmp_path / "out.csv"
    scored = cli("predict", "a@1", "--input", batch, "--output", out, "--json")
    assert scored.exit_code == 0, scored.stderr
    assert json.loads(scored.stdout)["rows_rejected"] == 0
    assert out.read_text().splitlines()[0].startswith("age,workclass,fnlwgt,")  # names trimmed
