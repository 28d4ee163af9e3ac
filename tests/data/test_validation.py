from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from mloop.data.schema import ColumnSchema, CustomCheck, Schema
from mloop.data.validation import validate_frame
from mloop.store import tables as t
from mloop.workspace import Workspace


def _schema(**rules: Any) -> Schema:
    return Schema(columns=[ColumnSchema(name="x", type=rules.pop("type", "float"), **rules)])


@pytest.mark.parametrize(
    ("rules", "values", "rule", "count", "examples"),
    [
        ({"nullable": False}, [1.0, None, 3.0, None], "nullable", 2, [2, 4]),
        ({"min": 0}, [1.0, -1.0, 3.0, -5.0], "min", 2, [2, 4]),
        ({"max": 10}, [1.0, 11.0, 3.0], "max", 1, [2]),
        (
            {"type": "categorical", "allowed": ["a", "b"]},
            ["a", "c", "b", "d"],
            "allowed",
            2,
            [2, 4],
        ),
        ({"max_null_rate": 0.25}, [1.0, None, None, 2.0], "max_null_rate", 2, [2, 3]),
        ({"unique": True}, [1.0, 2.0, 1.0, 2.0, 3.0], "unique", 2, [3, 4]),
        ({"type": "integer"}, [1.0, 2.5, 3.0], "type", 1, [2]),
        ({"type": "integer"}, ["1", "two", "3"], "type", 1, [2]),
        ({"type": "datetime"}, ["2026-01-01", "not a date", "2026-02-01"], "type", 1, [2]),
        ({"type": "boolean"}, ["true", "maybe", "false"], "type", 1, [2]),
    ],
)
def test_each_rule_counts_violations_with_example_rows(
    rules: dict[str, Any], values: list[Any], rule: str, count: int, examples: list[int]
) -> None:
    report = validate_frame(_schema(**rules), pd.DataFrame({"x": values}))
    assert not report.ok
    [violation] = report.violations
    assert (violation.column, violation.rule, violation.count, violation.examples) == (
        "x",
        rule,
        count,
        examples,
    )


def test_a_clean_frame_passes() -> None:
    schema = _schema(nullable=False, min=0, max=10)
    assert validate_frame(schema, pd.DataFrame({"x": [0.0, 5.0, 10.0]})).ok


def test_a_required_column_that_is_missing() -> None:
    report = validate_frame(_schema(), pd.DataFrame({"y": [1]}))
    assert [(v.column, v.rule) for v in report.violations] == [("x", "required")]


def test_a_custom_python_check(tmp_path: Path) -> None:
    (tmp_path / "rules_mod.py").write_text("def positive_total(df):\n    return df['x'] * 2 > 0\n")
    schema = Schema(
        columns=[ColumnSchema(name="x", type="float")],
        checks=[CustomCheck(name="positive", callable="rules_mod:positive_total")],
    )
    report = validate_frame(schema, pd.DataFrame({"x": [1.0, -2.0, 3.0]}), root=tmp_path)
    assert [(v.column, v.rule, v.count, v.examples) for v in report.violations] == [
        ("*", "check:positive", 1, [2])
    ]


def _count(workspace: Workspace) -> tuple[int, int]:
    with workspace.store.read() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(t.dataset_versions)).scalar_one()
    return rows, len(list(workspace.artifacts.hashes()))


def test_validate_cli_exits_1_listing_violations_and_0_when_clean(cli: Any, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("plan,price\nbasic,10\npro,20\nbasic,12\n")
    assert cli("data", "add", "plans", good).exit_code == 0
    clean = cli("data", "validate", "plans", good)
    assert clean.exit_code == 0 and "no violations" in clean.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("plan,price\nbasic,10\nenterprise,-99\nbasic,\n")
    result = cli("data", "validate", "plans", bad, "--json")
    assert result.exit_code == 1
    body = json.loads(result.stdout)
    rules = {(v["column"], v["rule"]): (v["count"], v["examples"]) for v in body["violations"]}
    assert rules == {
        ("plan", "allowed"): (1, [2]),
        ("price", "min"): (1, [2]),
        ("price", "nullable"): (1, [3]),
    }


def test_schema_export_edit_import_round_trip(
    cli: Any, tmp_path: Path, workspace: Workspace
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("plan,price\nbasic,10\npro,20\n")
    cli("data", "add", "plans", data)
    exported = tmp_path / "schema.json"
    assert cli("data", "schema", "plans", "--export", exported).exit_code == 0
    document = json.loads(exported.read_text())
    price = next(c for c in document["columns"] if c["name"] == "price")
    price["max"] = 100
    (workspace.root / "plan_rules.py").write_text("def cheap(df):\n    return df['price'] < 50\n")
    document["checks"] = [{"name": "cheap", "callable": "plan_rules:cheap"}]
    exported.write_text(json.dumps(document))
    imported = cli("data", "schema", "plans", "--import", exported)
    assert imported.exit_code == 0 and "revision 2" in imported.stdout
    later = tmp_path / "later.csv"
    later.write_text("plan,price\nbasic,60\npro,20\n")
    result = json.loads(cli("data", "validate", "plans", later, "--json").stdout)
    assert [(v["column"], v["rule"]) for v in result["violations"]] == [("*", "check:cheap")]
    (entry,) = json.loads(cli("audit", "--json").stdout)  # who changed the rules, and when
    assert entry["action"] == "schema_import" and entry["subject"] == "plans schema"
    assert (entry["from_value"], entry["to_value"]) == ("revision 1", "revision 2")
    assert entry["actor"] == "tester"


@pytest.mark.parametrize(
    ("column", "message"),
    [
        ({"name": "a", "type": "decimal"}, "column 'a'.type"),
        ({"name": "a", "type": "float", "min": "abc"}, "min of a float column must be a number"),
        ({"name": "a", "type": "integer", "min": 5, "max": 1}, "min 5 is above max 1"),
        ({"name": "a", "type": "datetime", "min": "soon"}, "must be a date like"),
        ({"name": "a", "type": "categorical", "max": 3}, "min/max apply to numbers and dates"),
    ],
)
def test_a_broken_schema_file_is_one_sentence(
    cli: Any, tmp_path: Path, column: dict[str, Any], message: str
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    cli("data", "add", "d", data)
    broken = tmp_path / "s.json"
    broken.write_text(json.dumps({"columns": [column]}))
    result = cli("data", "schema", "d", "--import", broken)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert cli("data", "validate", "d", data).exit_code == 0, "the stored schema is unchanged"


def test_add_validate_refuses_a_violating_version_and_writes_nothing(
    cli: Any, tmp_path: Path, workspace: Workspace
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("plan,price\nbasic,10\npro,20\n")
    cli("data", "add", "plans", good)
    before = _count(workspace)
    bad = tmp_path / "bad.csv"
    bad.write_text("plan,price\ngold,10\npro,20\n")
    refused = cli("data", "add", "plans", bad, "--validate")
    assert refused.exit_code == 1
    assert "no version was created" in refused.stderr and "gold" in refused.stdout
    assert _count(workspace) == before
    fine = tmp_path / "fine.csv"
    fine.write_text("plan,price\nbasic,15\npro,20\n")
    assert cli("data", "add", "plans", fine, "--validate").exit_code == 0


def test_a_schema_exports_to_any_file_name(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    cli("data", "add", "d", data)
    target = tmp_path / "rules.schema"
    assert cli("data", "schema", "d", "--export", target).exit_code == 0
    assert [c["name"] for c in json.loads(target.read_text())["columns"]] == ["a"]
    assert cli("data", "schema", "d", "--import", target).exit_code == 0


def test_a_schema_file_saved_with_a_bom_is_read(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    cli("data", "add", "d", data)
    schema = tmp_path / "s.json"
    schema.write_bytes(
        b"\xef\xbb\xbf" + json.dumps({"columns": [{"name": "a", "type": "integer"}]}).encode()
    )
    result = cli("data", "schema", "d", "--import", schema)
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([{"name": "a", "type": "integer"}], "the top level: Input should be a valid dictionary"),
        ({"columns": [{"name": "a", "type": "categorical", "allowed": []}]}, "allows no value"),
        ({"columns": [{"name": "typo", "type": "integer"}]}, "column 'typo' is not in d@1"),
    ],
    ids=["a-list", "empty-allowed", "unknown-required-column"],
)
def test_an_edited_schema_with_a_mistake_is_refused(
    cli: Any, tmp_path: Path, document: Any, message: str
) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    cli("data", "add", "d", data)
    schema = tmp_path / "s.json"
    schema.write_text(json.dumps(document))
    result = cli("data", "schema", "d", "--import", schema)
    assert result.exit_code == 2 and message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_column_still_to_come_may_be_imported_when_not_required(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a\n1\n")
    cli("data", "add", "d", data)
    schema = tmp_path / "s.json"
    schema.write_text(
        json.dumps(
            {
                "columns": [
                    {"name": "a", "type": "integer"},
                    {"name": "later", "type": "float", "required": False},
                ]
            }
        )
    )
    assert cli("data", "schema", "d", "--import", schema).exit_code == 0


def test_dates_in_a_numeric_column_and_numbers_in_a_date_column_are_type_violations(
    cli: Any, tmp_path: Path
) -> None:
    first = tmp_path / "v1.csv"
    first.write_text("x,y\n1,1.5\n2,2.5\n")
    assert cli("data", "add", "d", first).exit_code == 0
    later = tmp_path / "v2.csv"
    later.write_text("x,y\n2024-01-01,2024-01-01 10:00\n2024-02-01,2024-01-02 11:00\n")
    result = cli("data", "validate", "d", later, "--json")
    assert result.exit_code == 1, result.stderr
    found = {(v["column"], v["rule"]): v["count"] for v in json.loads(result.stdout)["violations"]}
    assert found == {("x", "type"): 2, ("y", "type"): 2}, "nanoseconds are not numbers"
    assert cli("data", "add", "dates", later).exit_code == 0
    result = cli("data", "validate", "dates", first, "--json")
    found = {(v["column"], v["rule"]): v["count"] for v in json.loads(result.stdout)["violations"]}
    assert found == {("x", "type"): 2, ("y", "type"): 2}, "numbers are not dates"


def test_a_stored_schema_an_earlier_mloop_accepted_still_loads(
    cli: Any, tmp_path: Path, workspace: Workspace
) -> None:
    """Schemas are stored forever: what an earlier version let in must keep working."""
    import sqlalchemy as sa

    from mloop.store import tables as t

    data = tmp_path / "d.csv"
    data.write_text("plan\nbasic\npro\n")
    cli("data", "add", "d", data)
    with workspace.store.transaction() as conn:
        (stored,) = conn.execute(sa.select(t.dataset_schemas.c.id, t.dataset_schemas.c.schema))
        document = dict(stored.schema)
        document["columns"] = [{**document["columns"][0], "allowed": []}]
        # the stored revision as an earlier mloop wrote it (rows are never edited by mloop)
        conn.execute(
            t.dataset_schemas.update()
            .where(t.dataset_schemas.c.id == stored.id)
            .values(schema=document)
        )
    result = cli("data", "validate", "d", data)
    assert result.exit_code == 1 and "allowed" in result.stdout  # rejects every value, as it says


def test_a_boolean_column_accepts_what_feature_coercion_reads() -> None:
    """1.0/0.0 (a boolean column read as floats) are truth values to the model's features, so
    validation must not call them type errors; 2.0 is neither."""
    from mloop.scoring.features import FeatureSpec, coerce

    frame = pd.DataFrame({"x": [1.0, 0.0, None, 2.0]})
    report = validate_frame(_schema(type="boolean"), frame)
    assert [(v.rule, v.examples) for v in report.violations] == [("type", [4])]
    spec = FeatureSpec(numeric=(), categorical=("x",), dropped=(), boolean=("x",))
    assert list(coerce(frame.head(2), spec)["x"]) == ["True", "False"]


def test_validate_notes_a_column_the_file_adds_once_without_failing(
    cli: Any, tmp_path: Path
) -> None:
    first = tmp_path / "m1.csv"
    first.write_text("plan,price\nbasic,10\npro,20\n")
    assert cli("data", "add", "plans", first).exit_code == 0
    later = tmp_path / "m2.csv"
    later.write_text("plan,price,new_col\nbasic,10,0.5\npro,20,0.7\n")
    result = cli("data", "validate", "plans", later)
    assert result.exit_code == 0 and "no violations" in result.stdout
    assert result.stderr.count("new_col") == 1 and "not a violation" in result.stderr
    assert "--import" in result.stderr
    body = json.loads(cli("data", "validate", "plans", later, "--json").stdout)
    assert body["ok"] and body["new_columns"] == ["new_col"] and body["violations"] == []
    clean = cli("data", "validate", "plans", first)
    assert "schema" not in clean.stderr
    assert json.loads(cli("data", "validate", "plans", first, "--json").stdout)["new_columns"] == []


def test_adding_a_version_with_a_new_column_says_no_rule_checks_it(
    cli: Any, tmp_path: Path
) -> None:
    """``data add`` took the column silently, with or without --validate."""
    first = tmp_path / "m1.csv"
    first.write_text("plan,price\nbasic,10\npro,20\n")
    added = cli("data", "add", "plans", first)
    assert added.exit_code == 0 and "schema" not in added.stderr  # a new dataset: all new
    for month, args in ((2, []), (3, ["--validate"])):
        later = tmp_path / f"m{month}.csv"
        later.write_text(f"plan,price,discount\nbasic,10,0.{month}\npro,20,0.7\n")
        result = cli("data", "add", "plans", later, *args)
        assert result.exit_code == 0, result.stderr
        said = " ".join(result.stderr.split())
        assert "1 column not in plans's schema, so no rule checked it: 'discount'" in said
    same = cli("data", "add", "plans", first)
    assert same.exit_code == 0 and "schema" not in same.stderr
