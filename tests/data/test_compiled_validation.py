"""Every validation case through both compiled validators: JSON records one at a time (serving)
and an Arrow table (files, batches), plus the pandas wrapper. They must report the same
(row, column, rule, value, message) for every bad value, or serving's 422s and `data validate`
would disagree about the same data."""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from mloop.data.schema import ColumnSchema, CustomCheck, Schema
from mloop.data.validation import validate_frame
from mloop.data.violations import FieldError, Violations, summarise

PROFILE = {  # a stored (format 1) reference profile: quartiles 10..20 over 5..30, so the fences are -20..50
    "rows": 100,
    "columns": {
        "x": {
            "type": "float",
            "min": 5.0,
            "max": 30.0,
            "quantiles": {"p25": 10.0, "p75": 20.0},
            "histogram": {"edges": [5.0, 30.0], "counts": [100]},
        },
    },
}


def _schema(**rules: Any) -> Schema:
    table_rules = {k: rules.pop(k) for k in ("max_duplicate_rate",) if k in rules}
    return Schema(
        columns=[ColumnSchema(name="x", type=rules.pop("type", "float"), **rules)], **table_rules
    )


# (rules, values, expected (rule, rows) of errors, expected (rule, rows) of warnings)
CASES: list[
    tuple[dict[str, Any], list[Any], list[tuple[str, list[int]]], list[tuple[str, list[int]]]]
] = [
    (
        {"nullable": False},
        [1.0, None, 3.0, None],
        [("nullable", [2, 4])],
        [("duplicate_rows", [4])],
    ),
    ({"min": 0}, [1.0, -1.0, 3.0, -5.0], [("min", [2, 4])], []),
    ({"max": 10}, [1.0, 11.0, 3.0], [("max", [2])], []),
    (
        {"type": "categorical", "allowed": ["a", "b"]},
        ["a", "c", "b", "d"],
        [("allowed", [2, 4])],
        [],
    ),
    ({"type": "categorical", "allowed": ["3", "4"]}, [3, 5, 4], [("allowed", [2])], []),
    ({"type": "integer", "allowed": [1, 2]}, [1.0, 2.0, 3.0], [("allowed", [3])], []),
    (
        {"max_null_rate": 0.25},
        [1.0, None, None, 2.0],
        [("max_null_rate", [2, 3])],
        [("duplicate_rows", [3])],
    ),
    ({"max_null_rate": 0.5}, [1.0, None, None, 2.0], [], [("duplicate_rows", [3])]),
    (
        {"unique": True},
        [1.0, 2.0, 1.0, 2.0, 3.0],
        [("unique", [3, 4])],
        [("duplicate_rows", [3, 4])],
    ),
    ({"type": "string", "unique": True}, ["a", None, "b", None], [], [("duplicate_rows", [4])]),
    ({"type": "integer"}, [1.0, 2.5, 3.0], [("type", [2])], []),
    ({"type": "integer"}, ["1", "two", "3"], [("type", [2])], []),
    ({"type": "integer", "min": 0}, ["1", "-2", " 3 ", "4.5"], [("type", [4]), ("min", [2])], []),
    (
        {"type": "float", "max": 5},
        [" 1.5", "inf", "nan", "1e3", "+2"],
        [("type", [3]), ("max", [2, 4])],
        [("outliers", [2, 4])],
    ),
    ({"type": "datetime"}, ["2026-01-01", "not a date", "2026-02-01"], [("type", [2])], []),
    (
        {"type": "datetime", "min": "2026-01-01", "max": "2026-01-31"},
        ["2025-12-31", "2026-01-15", "2026-02-01T00:00:00+00:00", "2026-01-31T23:00:00+05:00"],
        [("min", [1]), ("max", [3, 4])],
        [],
    ),
    ({"type": "datetime"}, [2013, 2014], [("type", [1, 2])], []),
    ({"type": "boolean"}, ["true", "maybe", "false"], [("type", [2])], []),
    ({"type": "boolean"}, [" Yes", "N", "t", "0"], [], []),
    ({"type": "boolean"}, [1.0, 0.0, 2.0, None], [("type", [3])], []),
    ({"type": "boolean"}, [True, False, None], [], []),
    ({}, [12.0, 99999.0, -40.0, 30.0, 31.0], [], [("outliers", [2, 3])]),
    ({"outliers": "error"}, [12.0, 99999.0], [("outliers", [2])], []),
    ({"outliers": "ignore"}, [12.0, 99999.0], [], []),
    ({"type": "integer", "outliers": "error"}, [12, 51, -21, 50], [("outliers", [2, 3])], []),
    ({}, [1.0, 1.0, 2.0, 1.0], [], [("duplicate_rows", [2, 4])]),
    ({"max_duplicate_rate": 0.25}, [1.0, 1.0, 2.0, 1.0], [("duplicate_rows", [2, 4])], []),
    ({"max_duplicate_rate": 0.5}, [1.0, 1.0, 2.0, 1.0], [], [("duplicate_rows", [2, 4])]),
    ({"nullable": False, "min": 0, "max": 10}, [0.0, 5.0, 10.0], [], []),
]


def _records(values: list[Any]) -> list[dict[str, Any]]:
    return [{"x": v} for v in values]


def _key(found: list[FieldError]) -> list[tuple[Any, ...]]:
    def value(v: Any) -> Any:
        return None if isinstance(v, float) and math.isnan(v) else v

    return sorted(
        ((e.row or 0, e.column, e.rule, repr(value(e.value)), e.message) for e in found),
        key=repr,
    )


def _rules(found: list[FieldError]) -> list[tuple[str, list[int]]]:
    grouped: dict[str, list[int]] = {}
    for error in found:
        grouped.setdefault(error.rule, []).append(error.row or 0)
    return sorted((rule, sorted(rows)) for rule, rows in grouped.items())


def _as_parquet_reads_text(table: pa.Table) -> pa.Table:
    """Text as dictionary codes, each half with its own dictionary (as Parquet row groups are)."""

    def encoded(part: pa.Table) -> pa.Table:
        return pa.table(
            {
                name: pc.dictionary_encode(column) if pa.types.is_string(column.type) else column
                for name, column in zip(part.column_names, part.columns, strict=True)
            }
        )

    half = table.num_rows // 2
    return pa.concat_tables([encoded(table.slice(0, half)), encoded(table.slice(half))])


def _same(by_rows: Violations, by_batch: Violations) -> None:
    assert _key(by_rows.errors) == _key(by_batch.errors)
    assert _key(by_rows.warnings) == _key(by_batch.warnings)


@pytest.mark.parametrize(("rules", "values", "errors", "warnings"), CASES)
def test_rows_and_batches_report_the_same_errors(
    rules: dict[str, Any],
    values: list[Any],
    errors: list[tuple[str, list[int]]],
    warnings: list[tuple[str, list[int]]],
) -> None:
    compiled = _schema(**rules).compile(PROFILE)
    by_rows = compiled.validate_records(_records(values))
    by_batch = compiled.table_errors(pa.Table.from_pylist(_records(values)))
    assert _rules(by_rows.errors) == sorted(errors)
    assert _rules(by_rows.warnings) == sorted(warnings)
    _same(by_rows, by_batch)
    _same(
        by_rows,
        compiled.table_errors(_as_parquet_reads_text(pa.Table.from_pylist(_records(values)))),
    )
    one_at_a_time = [
        FieldError(i + 1, e.column, e.rule, e.value, e.message)
        for i, value in enumerate(values)
        for e in compiled.validate_records([{"x": value}]).errors
        if e.rule not in {"max_null_rate", "unique"}
    ]
    assert _key(one_at_a_time) == _key(
        [e for e in by_batch.errors if e.rule not in {"max_null_rate", "unique", "duplicate_rows"}]
    ), "a request of one record reports what the batch reports for that row"
    report = validate_frame(_schema(**rules), pd.DataFrame({"x": values}), profile=PROFILE)
    expected = summarise(by_batch, len(values))
    assert sorted(map(repr, report.violations)) == sorted(map(repr, expected.violations))
    assert sorted(map(repr, report.warnings)) == sorted(map(repr, expected.warnings))
    assert report.ok == (not errors)


def test_a_required_column_that_is_missing_is_one_error_in_both() -> None:
    compiled = _schema().compile()
    by_rows = compiled.validate_records([{"y": 1}])
    by_batch = compiled.table_errors(pa.table({"y": [1]}))
    assert [(e.row, e.column, e.rule) for e in by_rows.errors] == [(None, "x", "required")]
    _same(by_rows, by_batch)
    assert compiled.validate_records([{"x": None}]).ok, "present but empty is not missing"


def test_a_small_allowed_set_is_named_in_the_message_and_a_big_one_counted() -> None:
    small = _schema(type="string", allowed=["b", "a", "c"]).compile()
    (error,) = small.validate_records([{"x": "z"}]).errors
    assert error.message == "values outside the allowed set {a, b, c}"
    big = _schema(type="string", allowed=[f"v{i:02}" for i in range(9)]).compile()
    (error,) = big.validate_records([{"x": "z"}]).errors
    assert error.message == "values outside the allowed set (9 values)"
    (missing,) = small.validate_records([{"y": 1}]).errors
    assert missing.message == "the column is missing", "said alike of files and requests"


def test_many_columns_and_a_custom_check_agree(tmp_path: Path) -> None:
    (tmp_path / "agree_rules.py").write_text(
        "def cheap(df):\n    return df['price'].astype(float) < 50\n"
    )
    schema = Schema(
        columns=[
            ColumnSchema(name="plan", type="categorical", allowed=["basic", "pro"], nullable=False),
            ColumnSchema(name="price", type="float", min=0),
            ColumnSchema(name="active", type="boolean"),
            ColumnSchema(name="since", type="datetime", max="2026-12-31"),
        ],
        checks=[CustomCheck(name="cheap", callable="agree_rules:cheap")],
    )
    records = [
        {"plan": "basic", "price": 10.0, "active": "yes", "since": "2026-01-02"},
        {"plan": "gold", "price": -1.0, "active": "maybe", "since": "2027-01-01"},
        {"plan": None, "price": 60.0, "active": "no", "since": None},
        {"plan": "basic", "price": 10.0, "active": "yes", "since": "2026-01-02"},
    ]
    compiled = schema.compile(root=tmp_path)
    by_rows = compiled.validate_records(records)
    _same(by_rows, compiled.table_errors(pa.Table.from_pylist(records)))
    assert _rules(by_rows.errors) == [
        ("allowed", [2]),
        ("check:cheap", [3]),
        ("max", [2]),
        ("min", [2]),
        ("nullable", [3]),
        ("type", [2]),
    ]
    assert _rules(by_rows.warnings) == [("duplicate_rows", [4])]


def test_custom_checks_are_imported_once_when_compiled(tmp_path: Path) -> None:
    (tmp_path / "counted_rules.py").write_text(
        "IMPORTS = []\nIMPORTS.append(1)\ndef ok(df):\n    return df['x'] > 0\n"
    )
    schema = Schema(
        columns=[ColumnSchema(name="x", type="float")],
        checks=[CustomCheck(name="ok", callable="counted_rules:ok")],
    )
    compiled = schema.compile(root=tmp_path)
    # importing it again now would fail: a validator that re-imports per call cannot pass below
    sys.modules.pop("counted_rules")
    (tmp_path / "counted_rules.py").write_text("raise RuntimeError('imported again')\n")
    for _ in range(3):
        assert not compiled.validate_records([{"x": -1.0}]).ok
        assert not compiled.validate_table(pa.table({"x": [-1.0]})).ok


def test_records_that_are_not_objects_are_one_sentence() -> None:
    from mloop.errors import InvalidInput

    with pytest.raises(InvalidInput, match="Record 2 is list"):
        _schema().compile().validate_records([{"x": 1.0}, [1.0]])  # type: ignore[list-item]


@pytest.mark.parametrize("kind", ["float", "integer"])
def test_a_json_boolean_is_not_a_number(kind: str) -> None:
    """A client sending ``true`` for a number has a bug: scored as 1.0 it would go unnoticed."""
    compiled = _schema(type=kind).compile()
    found = compiled.validate_records([{"x": 1}, {"x": True}, {"x": False}, {"x": "0"}])
    assert [(e.row, e.rule, e.value) for e in found.errors] == [
        (2, "type", True),
        (3, "type", False),
    ]
    assert {e.message for e in found.errors} == {
        compiled.validate_records([{"x": "a"}]).errors[0].message
    }
    assert compiled.validate_records([{"x": True}]).errors, "one record takes the fast filter"
    # a file's 0/1 flag column read as Arrow booleans (batch_checks) is not JSON, and stays valid
    assert compiled.table_errors(pa.table({"x": [True, False]})).ok
    boolean = _schema(type="boolean").compile()
    assert boolean.validate_records([{"x": True}, {"x": "1"}, {"x": "0"}, {"x": "true"}]).ok
