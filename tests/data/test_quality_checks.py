"""Duplicate rows, outliers against the reference profile, and the inferred null-rate limit:
the checks practitioners expect beside types and ranges."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mloop.data.outliers import outlier_fences
from mloop.data.profile import DatasetProfile
from mloop.data.schema import inferred_null_limit


def _penguins(rows: int = 200, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "species": rng.choice(["Adelie", "Gentoo", "Chinstrap"], rows),
            "body_mass_g": rng.normal(4200, 800, rows).clip(2700, 6300).round(),
            "flipper_mm": rng.normal(200, 14, rows).round(),
        }
    )


def _validate(cli: Any, name: str, path: Path) -> tuple[int, dict[str, Any]]:
    result = cli("data", "validate", name, path, "--json")
    return result.exit_code, json.loads(result.stdout)


def test_duplicate_rows_are_counted_with_examples_and_do_not_fail(cli: Any, tmp_path: Path) -> None:
    reference = tmp_path / "penguins.csv"
    _penguins().to_csv(reference, index=False)
    assert cli("data", "add", "penguins", reference).exit_code == 0
    later = _penguins(seed=1)
    repeated = pd.concat([later, later.iloc[[3, 7, 3]]], ignore_index=True)
    path = tmp_path / "later.csv"
    repeated.to_csv(path, index=False)
    code, body = _validate(cli, "penguins", path)
    assert code == 0 and body["ok"] and body["violations"] == []
    [warning] = body["warnings"]
    assert (warning["column"], warning["rule"], warning["count"]) == ("*", "duplicate_rows", 3)
    assert warning["examples"] == [201, 202, 203]
    text = cli("data", "validate", "penguins", path)
    assert text.exit_code == 0 and "duplicate_rows" in text.stdout


def test_max_duplicate_rate_makes_duplicates_an_error(cli: Any, tmp_path: Path) -> None:
    reference = tmp_path / "penguins.csv"
    _penguins().to_csv(reference, index=False)
    cli("data", "add", "penguins", reference)
    schema = tmp_path / "schema.json"
    cli("data", "schema", "penguins", "--export", schema)
    document = json.loads(schema.read_text())
    document["max_duplicate_rate"] = 0.01
    schema.write_text(json.dumps(document))
    assert cli("data", "schema", "penguins", "--import", schema).exit_code == 0
    later = _penguins(seed=1)
    path = tmp_path / "later.csv"
    pd.concat([later, later.head(5)], ignore_index=True).to_csv(path, index=False)
    code, body = _validate(cli, "penguins", path)
    assert code == 1
    assert [(v["rule"], v["count"]) for v in body["violations"]] == [("duplicate_rows", 5)]


def test_a_value_far_outside_the_reference_is_an_outlier_warning(cli: Any, tmp_path: Path) -> None:
    reference = tmp_path / "penguins.csv"
    _penguins().to_csv(reference, index=False)
    cli("data", "add", "penguins", reference)
    later = _penguins(seed=2)
    later.loc[4, "body_mass_g"] = 99_999
    later.loc[9, "body_mass_g"] = 6_300  # the heaviest penguin seen: not an outlier
    path = tmp_path / "later.csv"
    later.to_csv(path, index=False)
    code, body = _validate(cli, "penguins", path)
    assert code == 0 and body["violations"] == []
    [warning] = body["warnings"]
    assert (warning["column"], warning["rule"], warning["count"]) == ("body_mass_g", "outliers", 1)
    assert (warning["examples"], warning["values"]) == ([5], [99_999])


def test_an_outlier_rule_of_error_fails_validation(cli: Any, tmp_path: Path) -> None:
    reference = tmp_path / "penguins.csv"
    _penguins().to_csv(reference, index=False)
    cli("data", "add", "penguins", reference)
    schema = tmp_path / "schema.json"
    cli("data", "schema", "penguins", "--export", schema)
    document = json.loads(schema.read_text())
    for column in document["columns"]:
        if column["name"] == "body_mass_g":
            column["outliers"] = "error"
    schema.write_text(json.dumps(document))
    cli("data", "schema", "penguins", "--import", schema)
    later = _penguins(seed=2)
    later.loc[4, "body_mass_g"] = 99_999
    path = tmp_path / "later.csv"
    later.to_csv(path, index=False)
    code, body = _validate(cli, "penguins", path)
    assert code == 1
    assert [(v["column"], v["rule"], v["examples"]) for v in body["violations"]] == [
        ("body_mass_g", "outliers", [5])
    ]


def _column(stored: dict[str, Any]) -> Any:
    """A column profile as a dataset version stores it (format 1: exact quartiles)."""
    histogram = {"edges": [stored["min"], stored["max"]], "counts": [100]}
    column = {"type": "float", "histogram": histogram, **stored}
    return DatasetProfile.from_json({"rows": 100, "columns": {"x": column}}).columns["x"]


def test_fences_come_from_the_quartiles_widened_to_what_was_seen() -> None:
    profile = _column({"min": 2700.0, "max": 6300.0, "quantiles": {"p25": 3550.0, "p75": 4750.0}})
    # three inter-quartile ranges (3 x 1,200 g) beyond the quartiles
    assert outlier_fences(profile) == (-50.0, 8350.0)
    wide = _column({"min": 1.0, "max": 1e9, "quantiles": {"p25": 2.0, "p75": 3.0}})
    assert outlier_fences(wide) == (-1.0, 1e9)
    assert outlier_fences(None) is None


def test_fences_from_a_sketch_of_real_values() -> None:
    import pyarrow as pa

    from mloop.data.profile_columns import NumericProfile

    values = np.arange(1, 1001, dtype=float)  # quartiles near 250 and 750
    low, high = outlier_fences(NumericProfile().update(pa.array(values)))  # type: ignore[misc]
    assert -1300 < low < -1200 and 2200 < high < 2300


@pytest.mark.parametrize(
    ("nulls", "rows", "limit"),
    [(0, 100, None), (3, 100, 0.08), (10, 100, 0.2), (20, 100, 0.4), (1, 3, 0.67), (60, 100, None)],
)
def test_the_inferred_null_limit(nulls: int, rows: int, limit: float | None) -> None:
    assert inferred_null_limit(nulls, rows) == limit


def test_a_column_missing_far_more_often_than_in_the_reference_fails(
    cli: Any, tmp_path: Path
) -> None:
    reference = _penguins()
    reference.loc[::10, "flipper_mm"] = None  # 10% missing: the inferred limit is 20%
    path = tmp_path / "penguins.csv"
    reference.to_csv(path, index=False)
    cli("data", "add", "penguins", path)
    schema = json.loads(cli("data", "schema", "penguins", "--json").stdout)
    flipper = next(c for c in schema["columns"] if c["name"] == "flipper_mm")
    assert flipper["max_null_rate"] == 0.2
    later = _penguins(seed=3)
    later.loc[::2, "flipper_mm"] = None  # 50% missing
    worse = tmp_path / "later.csv"
    later.to_csv(worse, index=False)
    code, body = _validate(cli, "penguins", worse)
    assert code == 1
    assert [(v["column"], v["rule"], v["count"]) for v in body["violations"]] == [
        ("flipper_mm", "max_null_rate", 100)
    ]


@pytest.mark.parametrize("with_key", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_duplicate_rows_match_pandas_on_random_tables(seed: int, with_key: bool) -> None:
    """Row hashing (or the key shortcut) finds exactly the rows pandas' duplicated() finds,
    with floats, NaN, text, dictionary text, booleans, dates and nulls in the mix."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from mloop.data.schema import ColumnSchema, Schema

    rng = np.random.default_rng(seed)
    rows = 3000
    frame = pd.DataFrame(
        {
            "f": rng.choice([0.5, -0.0, 0.0, np.nan, 2.25], rows),
            "n": rng.integers(0, 3, rows),
            "s": rng.choice(["a", "b", None], rows),
            "d": rng.choice(["x", "y"], rows),
            "b": rng.choice([True, False], rows),
            "t": pd.to_datetime(rng.choice(["2026-01-01", "2026-01-02"], rows)),
        }
    )
    if with_key:  # a key repeating where rows repeat, and in a few rows that differ
        frame.insert(0, "id", frame.groupby(list(frame.columns), dropna=False).ngroup())
        frame.loc[rng.choice(rows, 20), "f"] = 7.5
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.set_column(
        table.column_names.index("d"), "d", pc.dictionary_encode(table.column("d"))
    )
    columns = [ColumnSchema(name="id", type="integer", unique=True)] if with_key else []
    report = Schema(columns=columns).compile().validate_table(table)
    [warning] = [w for w in report.warnings if w.rule == "duplicate_rows"]
    expected = np.flatnonzero(frame.duplicated(keep="first").to_numpy()) + 1
    assert warning.count == len(expected) and warning.examples == list(expected[:5])
    found = Schema(columns=columns).compile().table_errors(table).warnings
    assert [e.row for e in found if e.rule == "duplicate_rows"] == list(expected)
