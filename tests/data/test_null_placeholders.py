"""Numbers and dates whose missing values are typed as ``-``, ``?`` or ``None`` keep their type."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mloop.data.datasets import add_version
from mloop.workspace import Workspace


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "2", "-", "4"], "integer"),
        (["1.5", "?", "2.25", "4"], "float"),
        (["None", "2", "3", "?"], "integer"),
        (["10", "--", "30", "40"], "integer"),
        # IBM's Telco churn: TotalCharges is " " for customers in their first month
        (["29.85", " ", "1889.5", "108.15"], "float"),
        (["1", "  ", "3", "\t"], "integer"),
        (["2024-01-05", " ", "2024-03-05", "2024-04-05"], "datetime"),
        (["2024-01-05", "-", "2024-03-05", "?"], "datetime"),
        (["25/01/2024", "?", "26/02/2024", "27/03/2024"], "datetime"),
        (['"1,5"', "-", '"2,25"', '"3,0"'], "float"),
        (["2024-01-05 10:00 UTC", "None", "2024-01-06 10:00 UTC", "-"], "datetime"),
        # a category or a strand spelled - stays a value where the other values are not numbers
        (["None", "DSL", "Fiber", "DSL"], "categorical"),
        (["+", "-", "+", "-"], "categorical"),
        ([" ", "DSL", "Fiber", "DSL"], "categorical"),
        # zip codes with a leading zero stay text, placeholders or not
        (["02134", "-", "10001", "94105"], "categorical"),
    ],
)
def test_placeholders_in_a_number_column_are_missing(
    workspace: Workspace, tmp_path: Path, values: list[str], expected: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_text("x,y\n" + "".join(f"{v},{i}\n" for i, v in enumerate(values)))
    version = add_version(
        workspace.store, workspace.artifacts, name="t", path=path, actor="t"
    ).version
    column = version.schema.columns[0]
    assert column.type == expected
    if expected != "categorical":
        assert column.nullable


def test_a_file_with_placeholder_nulls_trains_and_scores(cli: Any, tmp_path: Path) -> None:
    spellings = ["", "NA", "N/A", "null", "-", "?", "None"]
    lines = ["age,spend,plan,churned"]
    for i in range(80):
        age = spellings[i % 7] if i % 4 == 0 else str(20 + i % 50)
        spend = spellings[(i + 1) % 7] if i % 5 == 0 else f"{10 + i * 0.7:.2f}"
        lines.append(f"{age},{spend},{'pro' if i % 3 else 'basic'},{'yes' if i % 2 else 'no'}")
    path = tmp_path / "churn.csv"
    path.write_text("\n".join(lines) + "\n")
    assert cli("data", "add", "churn", path).exit_code == 0
    schema = json.loads(cli("data", "schema", "churn", "--json").stdout)
    types = {c["name"]: c["type"] for c in schema["columns"]}
    assert (types["age"], types["spend"]) == ("integer", "float")
    trained = cli("train", "--data", "churn", "--target", "churned", "--register", "c")
    assert trained.exit_code == 0, trained.stderr
    batch = tmp_path / "batch.csv"
    batch.write_text("age,spend,plan\n-,3.5,pro\n?,None,basic\n40,-,pro\n")
    scored = cli("predict", "c@1", "--input", batch, "--output", tmp_path / "out.csv")
    assert scored.exit_code == 0, scored.stderr
    assert "scored=3 rejected=0" in scored.stdout
