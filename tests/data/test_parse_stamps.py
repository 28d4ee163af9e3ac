"""Logged dates arrive as text; every spelling a user sends must profile, never crash."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from mloop.data.profile_columns import parse_stamps


def _parsed(values: list[str | None]) -> list[dt.datetime | None]:
    return parse_stamps(pa.array(values, pa.string())).to_pylist()


def test_iso_dates_and_times_parse_as_written() -> None:
    assert _parsed(["2024-03-05", "2024-03-06 10:00:00", "2024-03-06T10:30", None]) == [
        dt.datetime(2024, 3, 5),
        dt.datetime(2024, 3, 6, 10),
        dt.datetime(2024, 3, 6, 10, 30),
        None,
    ]


def test_other_spellings_and_junk_fall_back_to_pandas() -> None:
    assert _parsed(["20240306", "2024/03/07", "garbage", ""]) == [
        dt.datetime(2024, 3, 6),
        dt.datetime(2024, 3, 7),
        None,
        None,
    ]


def test_differing_offsets_are_compared_as_utc_instants() -> None:
    """pandas refuses mixed offsets outright ("Mixed timezones detected"); a monitor must not."""
    assert _parsed(["2024-03-06T10:00:00+02:00", "2024-03-06T10:00:00Z"]) == [
        dt.datetime(2024, 3, 6, 8),
        dt.datetime(2024, 3, 6, 10),
    ]


def test_one_offset_throughout_is_converted_to_utc() -> None:
    assert _parsed(["2024-03-06T10:00:00+02:00", "2024-03-07T00:30:00+02:00"]) == [
        dt.datetime(2024, 3, 6, 8),
        dt.datetime(2024, 3, 6, 22, 30),
    ]
