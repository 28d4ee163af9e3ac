"""`mloop data show`: every rule readable without ambiguity, at any table width."""

from __future__ import annotations

import json
import re
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


def test_a_very_wide_table_is_shown_whole_in_a_plain_layout(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    columns = {f"x{i:04d}": [float(i), i + 0.5, -1.0] for i in range(600)}
    columns["code"] = ["a, b", "c", "c"]
    pd.DataFrame(columns).to_csv(path, index=False)
    assert cli("data", "add", "wide", path).exit_code == 0
    shown = cli("data", "show", "wide")
    assert shown.exit_code == 0, shown.stderr
    lines = shown.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("column "))
    assert lines[header].split() == [
        "column",
        "type",
        "rules",
        "nulls",
        "distinct",
        "mean",
        "std",
        "min",
        "max",
    ]
    body = lines[header + 1 :]
    assert [line.split()[0] for line in body] == [*columns], "every column, in order, one line each"
    fields = re.split(r"\s{2,}", body[0])
    assert fields == [
        "x0000",
        "float",
        "not null",
        "0.0%",
        "3",
        "-0.166667",
        "0.763763",
        "-1",
        "0.5",
    ]
    assert re.split(r"\s{2,}", body[-1])[:3] == ["code", "categorical", 'not null; in {"a, b", c}']
    assert not any(ch in shown.stdout for ch in "│┃━─"), "no box drawing to lay out"
