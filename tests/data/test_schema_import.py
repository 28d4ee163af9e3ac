"""Importing a schema file: a file naming some columns merges into the rules in force, ``--replace``
makes it the whole schema, and either way the command and the audit log say what changed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def plans(cli: Any, tmp_path: Path) -> Path:
    data = tmp_path / "plans.csv"
    data.write_text("plan,price,seats\nbasic,10,1\npro,20,5\nbasic,12,2\n")
    assert cli("data", "add", "plans", data).exit_code == 0
    return data


def _rules(cli: Any) -> dict[str, dict[str, Any]]:
    document = json.loads(cli("data", "schema", "plans", "--json").stdout)
    return {c["name"]: c for c in document["columns"]}


def test_a_one_column_file_changes_that_column_and_keeps_the_others(
    cli: Any, tmp_path: Path, plans: Path
) -> None:
    before = _rules(cli)
    assert before["plan"]["allowed"] == ["basic", "pro"] and before["seats"]["min"] == 0
    edit = tmp_path / "price.json"
    edit.write_text(json.dumps({"columns": [{"name": "price", "type": "float", "max": 100}]}))
    result = cli("data", "schema", "plans", "--import", edit)
    assert result.exit_code == 0, result.stderr
    assert "changed: price" in result.stdout and "kept: plan, seats" in result.stdout
    after = _rules(cli)
    assert after["plan"] == before["plan"] and after["seats"] == before["seats"]
    assert after["price"]["max"] == 100 and after["price"]["type"] == "float"
    assert list(after) == ["plan", "price", "seats"]
    bad = tmp_path / "bad.csv"
    bad.write_text("plan,price,seats\ngold,500,-1\n")
    report = json.loads(cli("data", "validate", "plans", bad, "--json").stdout)
    assert sorted((v["column"], v["rule"]) for v in report["violations"]) == [
        ("plan", "allowed"),
        ("price", "max"),
        ("seats", "min"),
    ]


def test_the_audit_entry_records_each_rule_that_changed(
    cli: Any, tmp_path: Path, plans: Path
) -> None:
    edit = tmp_path / "price.json"
    edit.write_text(json.dumps({"columns": [{"name": "price", "type": "integer", "max": 100}]}))
    assert cli("data", "schema", "plans", "--import", edit).exit_code == 0
    (entry,) = json.loads(cli("audit", "--json").stdout)
    details = entry["details"]
    assert (details["mode"], details["changed"], details["kept"]) == (
        "merge",
        ["price"],
        ["plan", "seats"],
    )
    changed = {(r["column"], r["rule"]): (r["before"], r["after"]) for r in details["rules"]}
    # the file's price column has no min and is nullable by default: its rules replace the old ones
    assert changed == {
        ("price", "max"): (None, 100),
        ("price", "min"): (0, None),
        ("price", "nullable"): (False, True),
    }


def test_replace_makes_the_file_the_whole_schema_and_says_what_it_removed(
    cli: Any, tmp_path: Path, plans: Path
) -> None:
    edit = tmp_path / "price.json"
    edit.write_text(json.dumps({"columns": [{"name": "price", "type": "integer"}]}))
    result = cli("data", "schema", "plans", "--import", edit, "--replace", "--json")
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert (body["mode"], body["removed"], body["revision"]) == ("replace", ["plan", "seats"], 2)
    assert list(_rules(cli)) == ["price"]


def test_a_new_column_is_added_and_checks_merge_by_name(
    cli: Any, tmp_path: Path, plans: Path, workspace: Any
) -> None:
    (workspace.root / "plan_rules.py").write_text(
        "def cheap(df):\n    return df['price'] < 50\n\ndef few(df):\n    return df['seats'] < 9\n"
    )
    first = tmp_path / "first.json"
    first.write_text(
        json.dumps({"columns": [], "checks": [{"name": "cheap", "callable": "plan_rules:cheap"}]})
    )
    assert cli("data", "schema", "plans", "--import", first).exit_code == 0
    second = tmp_path / "second.json"
    second.write_text(
        json.dumps(
            {
                "columns": [{"name": "region", "type": "categorical", "required": False}],
                "checks": [{"name": "few", "callable": "plan_rules:few"}],
            }
        )
    )
    result = cli("data", "schema", "plans", "--import", second)
    assert result.exit_code == 0, result.stderr
    assert "added: region" in result.stdout and "check:few" in result.stdout
    document = json.loads(cli("data", "schema", "plans", "--json").stdout)
    assert [c["name"] for c in document["checks"]] == ["cheap", "few"]
    assert [c["name"] for c in document["columns"]] == ["plan", "price", "seats", "region"]


def test_importing_the_exported_schema_changes_nothing(
    cli: Any, tmp_path: Path, plans: Path
) -> None:
    exported = tmp_path / "schema.json"
    assert cli("data", "schema", "plans", "--export", exported).exit_code == 0
    result = cli("data", "schema", "plans", "--import", exported)
    assert result.exit_code == 0 and "no rule changed" in result.stdout


def test_replace_without_a_file_is_a_usage_error(cli: Any, plans: Path) -> None:
    result = cli("data", "schema", "plans", "--replace")
    assert result.exit_code == 2 and "--import" in result.stderr
