"""The shortcuts that make reading a big CSV fast must never change what is read."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from mloop.data.io import _may_have_leading_zeros, read_table

FIELDS = ["0", "01", "-01", "+007", "10", "a0", "x", "1.05", "2013-01-01", '"012"', '"a, 01"', ""]


def _exact(rows: list[list[str]]) -> bool:
    """The check the prefilter stands in for: a field's text starts with [+-]?0<digit>."""
    return any(re.match(r"^[+-]?0[0-9]", field.strip('"')) for row in rows for field in row)


@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize("seed", [0, 42])
def test_the_leading_zero_prefilter_never_misses_one(
    delimiter: str, newline: str, seed: int
) -> None:
    rng = random.Random(seed)
    for _ in range(200):
        rows = [[rng.choice(FIELDS) for _ in range(3)] for _ in range(rng.randint(1, 6))]
        data = newline.join(delimiter.join(row) for row in rows).encode()
        if _exact(rows):
            for step in (1, 2, 3, 5, 64, 1 << 22):
                assert _may_have_leading_zeros(data, delimiter, step=step), (data, step)


def test_the_prefilter_lets_ordinary_numbers_and_dates_through() -> None:
    data = b"a,b,c\n2013,1.05,2013-01-01T10:00:00Z\n-2.0,10,100\n"
    assert not _may_have_leading_zeros(data, ",")
    assert _may_have_leading_zeros(data + b"7,07,1\n", ",")


def test_a_leading_zero_far_into_a_big_unquoted_file_keeps_the_column_text(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ids.csv"
    lines = ["id,code"] + [f"{i},{100 + i % 900}" for i in range(300_000)] + ["300000,0042"]
    path.write_text("\n".join(lines) + "\n")
    frame = read_table(path)
    assert frame["code"].iloc[-1] == "0042" and frame["code"].iloc[0] == "100"
    assert frame["id"].dtype == "int64"


def test_a_quoted_line_break_is_still_one_value(tmp_path: Path) -> None:
    path = tmp_path / "notes.csv"
    path.write_text('id,note\n1,"two\nlines"\n2,plain\n')
    assert read_table(path)["note"].tolist() == ["two\nlines", "plain"]
