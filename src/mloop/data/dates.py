"""Dates written as text in a local format, read one way wherever mloop meets them.

When a file is read, a column of text dates takes the one format that reads every value
(``one_format_dates``); the schema keeps that format (``ColumnSchema.format``) and every later
reading of the column's text (a serving request, a later file, the prediction log) goes through
``read_dates`` with it, so ``01/02/24`` is the same instant at training and at serving time.
The format travels from the reader to the schema as Arrow field metadata (``FORMAT_KEY``).
"""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa

# A time may be on a 12-hour clock (``05/18/2024 01:48 AM``, as US spreadsheets export it, or
# ``1:48 p.m.`` as style guides write it), and a month name may sit between dashes
# (``18-May-2024``, Oracle's and Excel's DD-MON-YYYY).
NUMERIC_DATE = (
    r"^\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2})?( ?[AaPp]\.?[Mm]\.?)?)?$"
)
NAMED_MONTH_DATE = (
    r"^([A-Za-z]{3,9}\.? \d{1,2},? \d{4}|\d{1,2} [A-Za-z]{3,9}\.? \d{4}"
    r"|\d{1,2}-[A-Za-z]{3,9}-\d{4})$"
)
_DAY_MONTH_YEAR = ("%d/%m/%Y", "%d.%m.%Y", "%d-%m-%Y", "%d/%m/%y", "%d.%m.%y")
_MONTH_DAY_YEAR = ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y")
_YEAR_FIRST = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d")
_NAMED_MONTH = (
    *("%b %d %Y", "%b %d, %Y", "%B %d %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y"),
    *("%d-%b-%Y", "%d-%B-%Y"),
)
_TIMES = ("", " %H:%M", " %H:%M:%S", "T%H:%M", "T%H:%M:%S")
_TIMES_AM_PM = (" %I:%M %p", " %I:%M:%S %p", " %I:%M%p", " %I:%M:%S%p")
_AM_PM = r"[AaPp]\.?[Mm]\.?$"
_DOTTED_AM_PM = r"([AaPp])\.?([Mm])\.?$"
# A German short date pads day and month (DIN 5008: 18.05.24); 3.10.12 is a version number.
_PADDED_DOTTED = r"^\d{2}\.\d{2}\.\d{2}(\D|$)"
_ISO_START = r"\s*\d{4}-\d{2}-\d{2}"
# Excel, LibreOffice and Google Sheets read a two-digit year as 1930-2029 (Python's %y: 1969-2068).
_LAST_TWO_DIGIT_YEAR = 2029
# The Arrow field metadata key under which a reader records the format it read a column with.
FORMAT_KEY = b"mloop.datetime_format"
# The key of a pandas frame's ``attrs`` holding those formats by column, where ``read_table`` made it.
DATE_FORMATS = "mloop.datetime_formats"


def read_dates(text: pd.Series, fmt: str) -> pd.Series:
    """``text`` as naive datetimes in the format ``fmt``; NaT where a value does not fit it.

    A two-digit year is 1930-2029, as the spreadsheet the file came from shows it when opened
    again, so a birth date ``3/14/52`` is 1952, not 2052; ``p.m.`` reads as ``PM``.
    """
    spelled = text.astype("string").str.strip()
    if "%p" in fmt:  # %p reads am and AM, not a.m.
        spelled = spelled.str.replace(_DOTTED_AM_PM, r"\1\2", regex=True)
    parsed = pd.Series(pd.to_datetime(spelled, format=fmt, errors="coerce"), index=text.index)
    if "%y" in fmt:
        late = parsed.dt.year > _LAST_TWO_DIGIT_YEAR
        parsed = parsed.mask(late, parsed - pd.DateOffset(years=100))
    return parsed


def read_instants(text: pd.Series, fmt: str) -> pd.Series:
    """A datetime column's later text as UTC instants: in the column's format ``fmt``, or in
    ISO 8601 (``2024-05-18T13:48:00``, as a JSON client serialises a date), which no local
    format can be mistaken for; NaT for a value in neither (a type error, never another date)."""
    instants: pd.Series = read_dates(text, fmt).dt.tz_localize("UTC")
    iso = text.astype("string").str.match(_ISO_START).fillna(False).astype(bool)
    if iso.any():
        stamps = pd.to_datetime(text[iso], errors="coerce", format="ISO8601", utc=True)
        instants = instants.astype(stamps.dtype)
        instants[iso] = stamps
    return instants


def one_format_dates(text: pd.Series) -> tuple[pd.Series, str] | None:
    """The column as dates in the one format that reads every value, and that format; else None.

    A dotted date with a two-digit year must write day and month with two digits each, as German
    dates are written (``18.05.24``), so a column of versions like ``3.10.12`` stays text.
    """
    dates: tuple[str, ...]
    if text.str.fullmatch(NUMERIC_DATE).all():
        dates = _YEAR_FIRST + _DAY_MONTH_YEAR + _MONTH_DAY_YEAR
        if not text.str.match(_PADDED_DOTTED).all():
            dates = tuple(d for d in dates if d != "%d.%m.%y")
    elif text.str.fullmatch(NAMED_MONTH_DATE).all():
        dates = _NAMED_MONTH
    else:
        return None
    distinct = pd.Series(text.unique())
    # One format per column: a 12-hour clock is on every value or on none, so the first value
    # says which clock to try (and a 24-hour file tries no more formats than before).
    times = _TIMES_AM_PM if re.search(_AM_PM, str(distinct.iloc[0])) else _TIMES
    sample = distinct.head(1000)
    if times is _TIMES_AM_PM:
        sample = sample.str.replace(_DOTTED_AM_PM, r"\1\2", regex=True)
    candidates = [
        d + t
        for d in dates
        for t in times
        if pd.to_datetime(sample, format=d + t, errors="coerce").notna().all()
    ]
    readings: list[tuple[pd.Series, str]] = []
    for fmt in candidates:
        parsed = read_dates(distinct, fmt)
        if parsed.notna().all() and not any(parsed.equals(r) for r, _ in readings):
            readings.append((parsed, fmt))
    if len(readings) != 1:
        return None  # no format reads every value, or two read them differently
    reading, fmt = readings[0]
    lookup = dict(zip(distinct, reading, strict=True))
    return pd.to_datetime(text.map(lookup)), fmt


def field_format(field: pa.Field) -> str | None:
    """The format a reader read this column's dates with (``FORMAT_KEY``), if it recorded one."""
    value = (field.metadata or {}).get(FORMAT_KEY)
    return None if value is None else value.decode()


def with_format(field: pa.Field, fmt: str | None) -> pa.Field:
    """``field`` recording that its dates were read with ``fmt`` (none: it keeps no format)."""
    rest = {k: v for k, v in (field.metadata or {}).items() if k != FORMAT_KEY}
    if fmt is not None:
        rest[FORMAT_KEY] = fmt.encode()
    return field.with_metadata(rest or None)
