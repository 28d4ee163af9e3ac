"""Datetimes with and without time zones: validation compares instants, never crashes on a mix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

STAMPS = ["2024-01-01T08:30:00+02:00", "2024-01-02T08:30:00-05:00", "2024-01-03T08:30:00+00:00"]


def _bounded(cli: Any, tmp_path: Path, name: str, **bounds: str) -> None:
    exported = tmp_path / f"{name}.json"
    assert cli("data", "schema", name, "--export", exported).exit_code == 0
    document = json.loads(exported.read_text())
    for column in document["columns"]:
        if column["type"] == "datetime":
            column.update(bounds)
    exported.write_text(json.dumps(document))
    imported = cli("data", "schema", name, "--import", exported)
    assert imported.exit_code == 0, imported.stderr


@pytest.mark.parametrize(
    "bounds",
    [{"min": "2024-01-02"}, {"min": "2024-01-02T00:00:00+00:00"}, {"max": "2024-01-02T14:00Z"}],
    ids=["naive-bound", "utc-bound", "z-bound"],
)
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_bounds_on_zoned_and_naive_datetimes_count_the_rows_outside(
    cli: Any, tmp_path: Path, bounds: dict[str, str], fmt: str
) -> None:
    frame = pd.DataFrame(
        {
            "zoned": STAMPS,
            "naive": ["2024-01-01 08:30", "2024-01-02 08:30", "2024-01-03 08:30"],
            "n": [1, 2, 3],
        }
    )
    path = tmp_path / f"t.{fmt}"
    if fmt == "csv":
        frame.to_csv(path, index=False)
    else:
        frame["zoned"] = pd.to_datetime(frame["zoned"], utc=True).dt.tz_convert("Europe/Berlin")
        frame["naive"] = pd.to_datetime(frame["naive"])
        frame.to_parquet(path)
    assert cli("data", "add", "t", path).exit_code == 0
    _bounded(cli, tmp_path, "t", **bounds)
    result = cli("data", "validate", "t", path, "--json")
    assert result.exit_code == 1, result.stderr
    found = {
        (v["column"], v["rule"]): v["examples"] for v in json.loads(result.stdout)["violations"]
    }
    expected = [1] if "min" in bounds else [3]
    assert found == {
        ("zoned", next(iter(bounds))): expected,
        ("naive", next(iter(bounds))): expected,
    }


def test_a_text_column_with_mixed_offsets_is_checked_against_a_datetime_type(
    cli: Any, tmp_path: Path
) -> None:
    good = tmp_path / "good.csv"
    good.write_text("when,n\n" + "".join(f"{s},{i}\n" for i, s in enumerate(STAMPS)))
    assert cli("data", "add", "t", good).exit_code == 0
    bad = tmp_path / "bad.csv"
    bad.write_text(good.read_text() + "yesterday,9\n")
    result = cli("data", "validate", "t", bad, "--json")
    assert result.exit_code == 1, result.stderr
    [violation] = json.loads(result.stdout)["violations"]
    assert (violation["column"], violation["rule"], violation["examples"]) == ("when", "type", [4])


def test_a_schema_may_mix_a_naive_and_a_zoned_bound(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("when\n2024-01-01\n2024-02-01\n")
    assert cli("data", "add", "d", data).exit_code == 0
    schema = tmp_path / "s.json"
    for bounds, ok in [
        ({"min": "2024-01-01", "max": "2024-03-01T00:00:00+02:00"}, True),
        ({"min": "2024-03-01T00:00:00+02:00", "max": "2024-01-01"}, False),
    ]:
        schema.write_text(json.dumps({"columns": [{"name": "when", "type": "datetime", **bounds}]}))
        result = cli("data", "schema", "d", "--import", schema)
        assert result.exit_code == (0 if ok else 2), result.stderr
        assert ok or "is above max" in result.stderr


def test_stamps_ending_in_utc_or_gmt_are_utc_datetimes(cli: Any, tmp_path: Path) -> None:
    """BigQuery and many logs write ``2024-01-05 10:00:00 UTC``: the same instants as ``...Z``."""
    suffixed = tmp_path / "export.csv"
    suffixed.write_text(
        "at,n\n2024-01-05 10:00:00 UTC,1\n,2\n2024-03-05 12:00:00.25 UTC,3\n2024-03-06 09:30 GMT,4\n"
    )
    assert cli("data", "add", "export", suffixed).exit_code == 0
    types = {
        c["name"]: c["type"] for c in json.loads(cli("data", "schema", "export").stdout)["columns"]
    }
    assert types == {"at": "datetime", "n": "integer"}
    zulu = tmp_path / "zulu.csv"
    zulu.write_text(
        "at,n\n2024-01-05T10:00:00Z,1\n2024-02-05T10:00:00Z,2\n2024-03-06T09:30:00Z,4\n"
    )
    assert cli("data", "add", "zulu", zulu).exit_code == 0
    checked = cli("data", "validate", "zulu", suffixed)
    assert "type" not in checked.stdout, checked.stdout
    assert "nullable" in checked.stdout, "only the missing stamp breaks zulu's rules"
