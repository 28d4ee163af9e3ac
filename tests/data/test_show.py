"""`mloop data show`: every rule readable without ambiguity, at any table width."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd


def test_allowed_values_with_commas_braces_or_edge_spaces_are_quoted(
    cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "penguins_raw.csv"
    stages = ["Adult, 1 Egg Stage", "Juvenile", " padded", "{curly}", 'say "hi"'] * 4
    pd.DataFrame({"Stage": stages, "n": range(len(stages))}).to_csv(path, index=False)
    assert cli("data", "add", "raw", path).exit_code == 0
    allowed = json.loads(cli("data", "schema", "raw", "--json").stdout)["columns"][0]["allowed"]
    assert len(allowed) == 5
    shown = cli("data", "show", "raw")
    assert shown.exit_code == 0, shown.stderr
    assert (
        'in {" padded", "Adult, 1 Egg Stage", Juvenile, "say \\"hi\\"", "{curly}"}' in shown.stdout
    )


def test_a_long_allowed_list_says_how_many_more(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "codes.csv"
    codes = [f"c{i:02d}" for i in range(30)] * 3
    pd.DataFrame({"code": codes}).to_csv(path, index=False)
    assert cli("data", "add", "codes", path).exit_code == 0
    shown = cli("data", "show", "codes")
    assert shown.exit_code == 0, shown.stderr
    assert "in {c00, c01, c02, c03, c04, c05, c06, c07, … and 22 more}" in shown.stdout
