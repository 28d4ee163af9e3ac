"""Dates as spreadsheets export them: two-digit years (Excel's short date) and a.m./p.m."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mloop.data.datasets import add_version
from mloop.data.io import read_table
from mloop.workspace import Workspace


def _read(tmp_path: Path, text: str) -> list[Any]:
    path = tmp_path / "t.csv"
    path.write_text("d\n" + text)
    return list(read_table(path)["d"])


def _stamps(*values: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(v) for v in values]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5/18/24\n7/4/56\n12/31/99\n", _stamps("2024-05-18", "1956-07-04", "1999-12-31")),
        ("05/18/24 13:45\n07/04/56 09:05\n", _stamps("2024-05-18 13:45", "1956-07-04 09:05")),
        ("5/18/24 1:45 PM\n7/4/56 12:05 AM\n", _stamps("2024-05-18 13:45", "1956-07-04 00:05")),
        ("5/18/24 1:45 pm\n7/4/56 12:05 am\n", _stamps("2024-05-18 13:45", "1956-07-04 00:05")),
        ("18/05/24\n04/07/56\n", _stamps("2024-05-18", "1956-07-04")),
        ("18.05.24\n04.07.56\n", _stamps("2024-05-18", "1956-07-04")),
        (
            "05/18/2024 01:48 p.m.\n06/02/2024 1:05 a.m.\n06/03/2024 12:05 P.M.\n",
            _stamps("2024-05-18 13:48", "2024-06-02 01:05", "2024-06-03 12:05"),
        ),
        ("5/18/24 1:48 p.m.\n7/4/56 11:30 a.m.\n", _stamps("2024-05-18 13:48", "1956-07-04 11:30")),
    ],
    ids=[
        "excel-us-short-date",
        "short-date-24-hour",
        "short-date-12-hour",
        "short-date-lowercase-am-pm",
        "day-first-short-date",
        "dotted-day-first-short-date",
        "dotted-am-pm",
        "short-date-dotted-am-pm",
    ],
)
def test_spreadsheet_dates_are_read_as_the_dates_they_show(
    tmp_path: Path, text: str, expected: list[pd.Timestamp]
) -> None:
    assert _read(tmp_path, text) == expected


def test_a_two_digit_year_is_1930_to_2029_as_in_the_spreadsheet(tmp_path: Path) -> None:
    assert _read(tmp_path, "1/1/00\n12/31/29\n1/1/30\n6/15/68\n7/1/69\n") == _stamps(
        "2000-01-01", "2029-12-31", "1930-01-01", "1968-06-15", "1969-07-01"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("12/11/10\n01/02/03\n", ["12/11/10", "01/02/03"]),
        ("12/11/10\n13/11/10\n", _stamps("2010-11-12", "2010-11-13")),
        ("12/11/10\n12/13/10\n", _stamps("2010-12-11", "2010-12-13")),
        (
            "05/06/24 01:48 p.m.\n06/05/24 02:37 a.m.\n",
            ["05/06/24 01:48 p.m.", "06/05/24 02:37 a.m."],
        ),
    ],
    ids=["either-order", "day-first", "month-first", "either-order-12-hour"],
)
def test_a_short_date_takes_day_and_month_order_from_the_whole_column(
    tmp_path: Path, text: str, expected: list[Any]
) -> None:
    """Like 4-digit years: a column every value of which reads both ways, differently, stays text."""
    assert _read(tmp_path, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "1.2.3\n1.10.0\n2.0.1\n",
        "10-12\n11-13\n",
        "1-2-3\n4-5-6\n",
        "12/11\n5/18\n",
        "5/18/2024 1:48 pmx\n5/19/2024 1:48 pm\n",
        "AB-12-34\nAB-56-78\n",
        "05/18/24 25:00\n05/19/24 01:00\n",
        "05/18/24 1:48 p.m.\n2024-05-19\n",
    ],
    ids=[
        "versions",
        "ranges",
        "ids",
        "month-day-without-year",
        "not-a-meridiem",
        "codes",
        "no-such-hour",
        "two-formats",
    ],
)
def test_what_only_looks_like_a_short_date_stays_text(tmp_path: Path, text: str) -> None:
    assert _read(tmp_path, text) == text.splitlines()


def test_an_excel_export_is_dates_the_schema_checks(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    """Birth dates and visit times as Excel's US short date writes them are datetimes, and a
    later export in the same form validates with the same years."""
    path = tmp_path / "t.csv"
    path.write_text(
        "born,seen,n\n3/14/52,5/18/24 1:48 p.m.,1\n7/4/56,6/2/24 9:05 a.m.,2\n"
        "12/1/61,6/13/24 11:59 p.m.,3\n"
    )
    version = add_version(workspace.store, workspace.artifacts, name="t", path=path, actor="t")
    types = {c.name: c.type for c in version.version.schema.columns}
    assert types == {"born": "datetime", "seen": "datetime", "n": "integer"}
    later = tmp_path / "later.csv"
    later.write_text("born,seen,n\n2/2/55,7/1/24 10:15 a.m.,4\n8/8/58,soon,5\n")
    body = json.loads(cli("data", "validate", "t", later, "--json").stdout)
    assert [(v["column"], v["rule"], v["examples"]) for v in body["violations"]] == [
        ("seen", "type", [2])
    ]
