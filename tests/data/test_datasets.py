from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mloop.data.datasets import add_version, get_version, list_versions, load_frame
from mloop.data.io import read_table
from mloop.errors import NotFound
from mloop.workspace import Workspace

CSV = """id,signup,plan,monthly,calls,active,zip
1,2026-01-03,basic,19.5,2,true,02134
2,2026-01-04,pro,49.0,,false,10001
3,,basic,21.0,1,true,94105
4,2026-01-09,NA,55.25,4,true,02134
"""


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    path = tmp_path / "customers.csv"
    path.write_text(CSV)
    return path


def test_add_infers_types_nulls_and_rules(workspace: Workspace, csv_file: Path) -> None:
    result = add_version(
        workspace.store, workspace.artifacts, name="customers", path=csv_file, actor="t"
    )
    assert result.created and result.version.ref == "customers@1"
    version = result.version
    assert (version.row_count, version.column_count, version.format) == (4, 7, "csv sep=,")
    types = {c.name: c.type for c in version.schema.columns}
    assert types == {
        "id": "integer",
        "signup": "datetime",
        "plan": "categorical",
        "monthly": "float",
        "calls": "integer",
        "active": "boolean",
        "zip": "categorical",
    }
    schema = {c.name: c for c in version.schema.columns}
    assert schema["calls"].nullable and not schema["monthly"].nullable
    assert (schema["monthly"].min, schema["monthly"].max) == (0, None), "never negative, no cap"
    profile = version.profile["columns"]["monthly"]
    assert (profile["min"], profile["max"]) == (19.5, 55.25), "the observed range is profiled"
    assert schema["plan"].allowed == ["basic", "pro"]
    assert schema["zip"].allowed == ["02134", "10001", "94105"], "leading zeros survive"
    assert not schema["id"].unique, "four distinct values do not make a key"


def test_profile_is_stored_with_fixed_histogram_edges(workspace: Workspace, csv_file: Path) -> None:
    version = add_version(
        workspace.store, workspace.artifacts, name="c", path=csv_file, actor="t"
    ).version
    monthly = version.profile["columns"]["monthly"]
    assert monthly["count"] == 4 and monthly["nulls"] == 0
    assert monthly["mean"] == pytest.approx((19.5 + 49 + 21 + 55.25) / 4)
    assert len(monthly["histogram"]["edges"]) == len(monthly["histogram"]["counts"]) + 1
    assert sum(monthly["histogram"]["counts"]) == 4
    assert set(monthly["quantiles"]) >= {"p05", "p50", "p95"}
    plan = version.profile["columns"]["plan"]
    assert plan["categories"] == {"basic": 2, "pro": 1} and plan["nulls"] == 1


def test_same_bytes_are_the_same_version(cli: Any, csv_file: Path) -> None:
    first = cli("data", "add", "customers", csv_file)
    assert first.exit_code == 0 and first.stdout.startswith("dataset=customers@1 (blake3:")
    copy = csv_file.with_name("copy.csv")
    copy.write_bytes(csv_file.read_bytes())
    again = cli("data", "add", "customers", copy)
    assert again.exit_code == 0
    assert "unchanged: these bytes are already version 1" in again.stdout
    listed = json.loads(cli("data", "ls", "--json").stdout)
    assert [(d["name"], d["versions"]) for d in listed] == [("customers", 1)]


def test_a_changed_file_is_a_new_version_with_a_parent(
    workspace: Workspace, csv_file: Path
) -> None:
    first = add_version(
        workspace.store, workspace.artifacts, name="c", path=csv_file, actor="t"
    ).version
    csv_file.write_text(CSV + "5,2026-02-01,pro,60.0,0,false,10001\n")
    second = add_version(
        workspace.store, workspace.artifacts, name="c", path=csv_file, actor="t"
    ).version
    assert second.version == 2 and second.parent_id == first.id
    assert get_version(workspace.store, "c@latest").id == second.id
    assert get_version(workspace.store, "c").id == second.id
    assert get_version(workspace.store, "c@1").id == first.id
    assert [v.version for v in list_versions(workspace.store, "c")] == [1, 2]


def test_the_snapshot_is_read_back_not_the_source(workspace: Workspace, csv_file: Path) -> None:
    version = add_version(
        workspace.store, workspace.artifacts, name="c", path=csv_file, actor="t"
    ).version
    csv_file.write_text("completely,different\n1,2\n")
    frame = load_frame(workspace.store, workspace.artifacts, version)
    assert list(frame.columns) == ["id", "signup", "plan", "monthly", "calls", "active", "zip"]


def test_parquet_round_trip(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pd.DataFrame(
        {"a": [1, 2, None], "b": ["x", "y", "x"], "when": pd.to_datetime(["2026-01-01"] * 3)}
    ).to_parquet(path)
    version = add_version(
        workspace.store, workspace.artifacts, name="p", path=path, actor="t"
    ).version
    assert version.format == "parquet"
    assert {c.name: c.type for c in version.schema.columns} == {
        "a": "integer",
        "b": "categorical",
        "when": "datetime",
    }


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("ghost", "No dataset named 'ghost'; datasets are: c"),
        ("c@7", "has no version 7; versions are 1..1"),
        ("c@champion", "NAME@N or NAME@latest"),
    ],
)
def test_unknown_references_say_what_exists(
    cli: Any, csv_file: Path, ref: str, message: str
) -> None:
    cli("data", "add", "c", csv_file)
    result = cli("data", "show", ref)
    assert result.exit_code == 2
    assert message in result.stderr


def test_show_and_diff(cli: Any, csv_file: Path, tmp_path: Path) -> None:
    cli("data", "add", "c", csv_file)
    changed = tmp_path / "v2.csv"
    changed.write_text(
        CSV.replace("19.5", "119.5")
        .replace(",basic,", ",gold,", 1)
        .replace("id,signup", "id,signup")
        + ""
    )
    frame = pd.read_csv(changed, dtype={"zip": str})
    frame["extra"] = 1
    frame.drop(columns=["calls"]).to_csv(changed, index=False)
    assert cli("data", "add", "c", changed).exit_code == 0
    shown = cli("data", "show", "c@1")
    assert shown.exit_code == 0 and "monthly" in shown.stdout and "blake3:" in shown.stdout
    diff = json.loads(cli("data", "diff", "c@1", "c@2", "--json").stdout)
    assert diff["added_columns"] == ["extra"] and diff["removed_columns"] == ["calls"]
    assert any(c["column"] == "monthly" and c["field"] == "max" for c in diff["stat_changes"])
    assert any(c["column"] == "monthly" and c["field"] == "mean" for c in diff["stat_changes"])
    assert any(c["column"] == "plan" and c["field"] == "gold" for c in diff["category_changes"])
    assert diff["drift"]["reference"] == "c@1" and diff["drift"]["current"] == "c@2"
    assert {c["column"] for c in diff["drift"]["columns"]} >= {"monthly", "plan"}
    text = cli("data", "diff", "c@1", "c@2")
    assert text.exit_code == 0 and "+ columns: extra" in text.stdout
    assert "drift" in text.stdout and "columns drifted" in text.stdout


def test_names_are_checked(cli: Any, csv_file: Path) -> None:
    result = cli("data", "add", "../etc", csv_file)
    assert result.exit_code == 2 and "is not allowed" in result.stderr


def test_unknown_dataset_for_schema_is_not_found(workspace: Workspace) -> None:
    from mloop.data.datasets import current_schema

    with pytest.raises(NotFound):
        current_schema(workspace.store, "nope")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "name;age;city\nAna;31;Lisboa\nBo;;Oslo\n",
            {"name": "categorical", "age": "integer", "city": "categorical"},
        ),
        ("a\tb\n1\tx\n2\ty\n", {"a": "integer", "b": "categorical"}),
        ("a|b\n1.5|x\n2|y\n", {"a": "float", "b": "categorical"}),
        ('id,amount\n1,"1,200.50"\n2,"3,000"\n3,15\n', {"id": "integer", "amount": "float"}),
        ("id,when\n1,01/02/2026\n2,02/15/2026\n3,\n", {"id": "integer", "when": "datetime"}),
        ("id,empty\n1,\n2,\n", {"id": "integer", "empty": "string"}),
        (
            '"text, with comma",n\n"he said ""hi""",1\n"line\nbreak",2\n',
            {"text, with comma": "categorical", "n": "integer"},
        ),
    ],
    ids=["semicolon", "tab", "pipe", "thousands", "us-dates", "all-empty", "quoted"],
)
def test_real_world_csv_shapes(
    workspace: Workspace, tmp_path: Path, text: str, expected: dict[str, str]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    version = add_version(
        workspace.store, workspace.artifacts, name="t", path=path, actor="t"
    ).version
    assert {c.name: c.type for c in version.schema.columns} == expected
    empty = next((c for c in version.schema.columns if c.name == "empty"), None)
    assert empty is None or empty.allowed is None, "an all-empty column allows any later value"


def test_error_text_is_printed_verbatim(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "passwd.csv"
    path.write_text("root\nroot:x:0:0:root:/root:/bin/bash,extra\n")
    result = cli("data", "add", "p", path)
    assert result.exit_code == 2
    assert "root:x:0:0" in result.stderr, "no :x: emoji, no markup"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("p;q\n1,037;24,6\n2,5;82,30\n", {"p": [1.037, 2.5], "q": [24.6, 82.3]}),
        ('p,q\n"1,037",1\n"2,500",2\n', {"p": [1037, 2500], "q": [1, 2]}),
        ("p;q\n1.234,5;1\n10,25;2\n", {"p": [1234.5, 10.25], "q": [1, 2]}),
        (
            "d\n01/02/2020\n13/02/2020\n",
            {"d": [pd.Timestamp("2020-02-01"), pd.Timestamp("2020-02-13")]},
        ),
        ("d\n01/02/2020\n02/03/2020\n", {"d": ["01/02/2020", "02/03/2020"]}),
        (
            "d\nJan 1 2000\nFeb 12 2001\n",
            {"d": [pd.Timestamp("2000-01-01"), pd.Timestamp("2001-02-12")]},
        ),
        (
            "d\n05/18/2024 01:48 AM\n06/02/2024 12:37 PM\n06/03/2024 12:05 am\n",
            {
                "d": [
                    pd.Timestamp("2024-05-18 01:48"),
                    pd.Timestamp("2024-06-02 12:37"),
                    pd.Timestamp("2024-06-03 00:05"),
                ]
            },
        ),
        (
            "d\n05/06/2024 01:48 AM\n06/05/2024 02:37 PM\n",
            {"d": ["05/06/2024 01:48 AM", "06/05/2024 02:37 PM"]},
        ),
        (
            "d\n18-May-2024\n02-Jun-2024\n1-Sep-2023\n",
            {
                "d": [
                    pd.Timestamp("2024-05-18"),
                    pd.Timestamp("2024-06-02"),
                    pd.Timestamp("2023-09-01"),
                ]
            },
        ),
        (
            'price,rate,loss\n"$1,234.50",96%,-$5\n$80.00,100%,$-7.5\n',
            {"price": [1234.5, 80.0], "rate": [96, 100], "loss": [-5.0, -7.5]},
        ),
        ("p;q\n12,50 €;£3\n1.024,00 €;£ 4\n", {"p": [12.5, 1024.0], "q": [3, 4]}),
        (
            "p,q,r\n$5,96%,5%\n€5,96,A5%\n",
            {"p": ["$5", "€5"], "q": ["96%", "96"], "r": ["5%", "A5%"]},
        ),
    ],
    ids=[
        "decimal-comma",
        "thousands",
        "dotted-thousands",
        "day-first",
        "ambiguous",
        "month-names",
        "12-hour-clock",
        "12-hour-clock-ambiguous",
        "day-month-name-year",
        "currency-and-percent",
        "currency-after-in-a-semicolon-file",
        "mixed-signs-stay-text",
    ],
)
def test_local_numbers_and_dates_read_one_way_per_column(
    tmp_path: Path, text: str, expected: dict[str, list[Any]]
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(text)
    frame = read_table(path)
    assert {name: frame[name].tolist() for name in frame.columns} == expected


def test_gzipped_csv_is_read(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "t.csv.gz"
    path.write_bytes(gzip.compress(b"a,b\n1,x\n2,y\n"))
    version = add_version(workspace.store, workspace.artifacts, name="gz", path=path, actor="t")
    assert version.version.row_count == 2
    assert read_table(path)["a"].tolist() == [1, 2]


def test_a_key_is_inferred_unique_only_from_enough_rows(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "keys.csv"
    pd.DataFrame({"id": range(150), "name": [f"n{i}" for i in range(150)]}).to_csv(
        path, index=False
    )
    version = add_version(workspace.store, workspace.artifacts, name="k", path=path, actor="t")
    assert all(c.unique for c in version.version.schema.columns)


def test_a_long_list_of_dataset_names_says_how_many_more(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "t.csv"
    for index in range(23):
        path.write_text(f"a\n{index}\n")
        add_version(
            workspace.store, workspace.artifacts, name=f"d{index:02d}", path=path, actor="t"
        )
    result = cli("data", "show", "ghost")
    assert result.exit_code == 2
    message = " ".join(result.stderr.split())
    assert "datasets are: d00, d01," in message and "d19 and 3 more;" in message
    assert "d20" not in message
    assert message.endswith("`mloop data ls` lists them.")


def test_a_version_that_drops_or_retypes_a_column_is_added_with_a_warning(
    workspace: Workspace, tmp_path: Path
) -> None:
    def add(text: str) -> tuple[str, ...]:
        path = tmp_path / f"v{len(list(tmp_path.iterdir()))}.csv"
        path.write_text(text)
        return add_version(
            workspace.store, workspace.artifacts, name="d", path=path, actor="t"
        ).warnings

    assert add("age,plan,paid\n31,pro,1\n40,basic,0\n") == ()
    # whole numbers where there were fractions, a category read as text: the same data
    assert add("age,plan,paid\n31.5,pro,1\n40,a b c,0\n") == ()
    (warning,) = add("age,plan\nunknown,pro\n40,basic\n")
    assert (
        "differs from d's schema (no column 'paid'; 'age' is categorical (was integer))" in warning
    )
    assert "--validate refuses such a version" in warning


def test_12_hour_times_and_day_month_name_years_are_dates_the_schema_checks(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    """``05/18/2024 01:48 AM`` (US spreadsheets) and ``18-May-2024`` (DD-MON-YYYY) stayed text:
    a column of distinct dates inferred as a string, checked as one and left for free text."""
    path = tmp_path / "t.csv"
    path.write_text(
        "seen,harvest,n\n05/18/2024 01:48 AM,18-May-2024,1\n"
        "06/02/2024 02:37 PM,02-Jun-2024,2\n06/13/2024 11:59 PM,13-Jun-2024,3\n"
    )
    version = add_version(workspace.store, workspace.artifacts, name="t", path=path, actor="t")
    types = {c.name: c.type for c in version.version.schema.columns}
    assert types == {"seen": "datetime", "harvest": "datetime", "n": "integer"}
    later = tmp_path / "later.csv"
    later.write_text("seen,harvest,n\n07/01/2024 09:15 AM,01-Jul-2024,4\nsoon,32-Jul-2024,5\n")
    body = json.loads(cli("data", "validate", "t", later, "--json").stdout)
    assert [(v["column"], v["rule"], v["examples"]) for v in body["violations"]] == [
        ("seen", "type", [2]),
        ("harvest", "type", [2]),
    ]
