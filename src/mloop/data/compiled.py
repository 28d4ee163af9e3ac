"""A schema compiled into validators: its rules read once, checked per record or per Arrow batch.

``Schema.compile(profile)`` makes a ``CompiledSchema``: bounds turned into numbers and instants,
allowed sets into sets of spellings, outlier fences computed from the reference profile and custom
checks imported, all once. Two validators then share these rules and give the same ``FieldError``
for the same bad value: ``validate_records`` for JSON records (serving, one request at a time;
data/row_checks.py) and ``validate_table`` for Arrow tables (files, log windows;
data/batch_checks.py). tests/data/test_compiled_validation.py runs every case through both.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mloop.callables import load_callable
from mloop.data.outliers import outlier_fences
from mloop.data.profile import DatasetProfile
from mloop.data.profile_columns import ColumnProfile
from mloop.data.schema import ColumnSchema, CustomCheck, Schema, utc_instant
from mloop.data.violations import ValidationReport, Violations
from mloop.errors import InvalidInput

# What a number written as text may look like (surrounding spaces allowed); "nan" is not a number.
# ASCII only, written for both Python's re and Arrow's RE2 so the two validators read text alike.
_SPACE = r"[ \t\n\r\f\x0b]*"
_NUMBER = (
    r"[+-]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][+-]?[0-9]+)?|[iI][nN][fF]([iI][nN][iI][tT][yY])?)"
)
NUMBER_TEXT = f"^{_SPACE}{_NUMBER}{_SPACE}$"
NUMBER = re.compile(f"{_SPACE}{_NUMBER}{_SPACE}")
DUPLICATE_ROWS = "duplicate_rows"
# A share of missing values is measured over a batch; a single record has none to speak of.
MIN_ROWS_FOR_RATES = 2
MISSING_COLUMN = "the column is missing"  # from a file, a batch or a request's rows alike
ALLOWED_SHOWN = 8  # an allowed set this small is named in full in the message


@dataclass(frozen=True)
class CompiledColumn:
    """One column's rules in the form both validators test them."""

    name: str
    type: str
    required: bool
    nullable: bool
    max_null_rate: float | None
    low: float | None  # numeric bounds
    high: float | None
    earliest: dt.datetime | None  # datetime bounds, UTC
    latest: dt.datetime | None
    allowed: frozenset[str] | None
    unique: bool
    fences: tuple[float, float] | None  # outliers outside these (None: not looked for)
    outliers: str
    source: ColumnSchema

    @property
    def numeric(self) -> bool:
        return self.type in {"integer", "float"}

    def message(self, rule: str) -> str:
        """The sentence for ``rule`` in this column, the same whichever validator found it."""
        column = self.source
        if rule == "nullable":
            return "missing values in a column that must not have any"
        if rule == "type":
            if column.format is not None:  # the fix: write them as the training file did
                return f"values that are not {self.type} written as {column.format}"
            return f"values that are not {self.type}"
        if rule == "min":
            return f"values below the minimum {column.min}"
        if rule == "max":
            return f"values above the maximum {column.max}"
        if rule == "allowed":
            allowed = sorted(self.allowed or ())
            if len(allowed) <= ALLOWED_SHOWN:  # the fix is one of these: say them
                return f"values outside the allowed set {{{', '.join(allowed)}}}"
            return f"values outside the allowed set ({len(allowed)} values)"
        if rule == "unique":
            return "repeated values in a column that must be unique"
        if rule == "outliers" and self.fences is not None:
            low, high = self.fences
            return f"values far outside the reference data (beyond {low:.6g}..{high:.6g})"
        if rule == "required":
            return MISSING_COLUMN
        raise ValueError(f"no message for rule {rule!r}")

    def null_rate_message(self, rate: float) -> str:
        return f"null rate {rate:.1%} is above {self.max_null_rate:.1%}"


def _instant(value: Any) -> dt.datetime | None:
    return None if value is None else utc_instant(value).to_pydatetime()


def compile_column(column: ColumnSchema, profile: ColumnProfile | None) -> CompiledColumn:
    numeric = column.type in {"integer", "float"}
    fences = None
    if numeric and column.outliers != "ignore" and not column.unique:  # a key is no measure
        fences = outlier_fences(profile)
    return CompiledColumn(
        name=column.name,
        type=column.type,
        required=column.required,
        nullable=column.nullable,
        max_null_rate=column.max_null_rate,
        low=float(column.min) if numeric and column.min is not None else None,
        high=float(column.max) if numeric and column.max is not None else None,
        earliest=_instant(column.min) if column.type == "datetime" else None,
        latest=_instant(column.max) if column.type == "datetime" else None,
        allowed=None if column.allowed is None else frozenset(str(v) for v in column.allowed),
        unique=column.unique,
        fences=fences,
        outliers=column.outliers,
        source=column,
    )


@dataclass(frozen=True)
class CompiledCheck:
    check: CustomCheck
    function: Callable[[pd.DataFrame], Any]

    @property
    def rule(self) -> str:
        return f"check:{self.check.name}"

    @property
    def message(self) -> str:
        return self.check.description or self.check.callable

    def bad_rows(self, frame: pd.DataFrame) -> np.ndarray:
        """0-based rows the check rejects; raises ``InvalidInput`` for a check that is broken."""
        try:
            result = self.function(frame)
        except Exception as exc:
            raise InvalidInput(
                f"Check {self.check.name!r} ({self.check.callable}) raised {type(exc).__name__}: {exc}."
            ) from exc
        ok = np.asarray(result, dtype=bool)
        if ok.shape != (len(frame),):
            raise InvalidInput(
                f"Check {self.check.name!r} must return one True/False per row ({len(frame)}); "
                f"it returned shape {ok.shape}."
            )
        return np.flatnonzero(~ok)


def _load(check: CustomCheck, root: Path | None) -> CompiledCheck:
    function = load_callable(check.callable, root=root, what=f"Check {check.name!r}")
    return CompiledCheck(check, function)


class CompiledSchema:
    """A schema's validators; build with ``Schema.compile`` and reuse for every batch."""

    def __init__(
        self,
        schema: Schema,
        *,
        profile: DatasetProfile | Mapping[str, Any] | None = None,
        root: Path | None = None,
    ) -> None:
        if profile is not None and not isinstance(profile, DatasetProfile):
            profile = DatasetProfile.from_json(dict(profile))  # as stored: any format version
        profiles = {} if profile is None else profile.columns
        self.schema = schema
        self.columns = [compile_column(c, profiles.get(c.name)) for c in schema.columns]
        self.checks = [_load(check, root) for check in schema.checks]
        self.max_duplicate_rate = schema.max_duplicate_rate
        self._rows: Any = None

    def duplicate_message(self, count: int, rows: int) -> str:
        rate = count / rows if rows else 0.0
        if self.max_duplicate_rate is not None and rate > self.max_duplicate_rate:
            return f"{rate:.1%} of rows repeat an earlier row, above max_duplicate_rate {self.max_duplicate_rate:.1%}"
        return f"{rate:.1%} of rows repeat an earlier row"

    def duplicates_fail(self, count: int, rows: int) -> bool:
        limit = self.max_duplicate_rate
        return limit is not None and rows > 0 and count / rows > limit

    def validate_records(self, records: Sequence[Mapping[str, Any]]) -> Violations:
        """Every bad value of JSON-like records (dicts of column -> value), one pass per record."""
        if self._rows is None:
            from mloop.data.row_checks import RowValidator

            self._rows = RowValidator(self)
        found: Violations = self._rows.check(records)
        return found

    def table_errors(self, table: pa.Table, *, duplicates: bool = True) -> Violations:
        """Every bad value of an Arrow table, found with vectorised Arrow compute;
        ``duplicates=False`` leaves out the repeated-rows rule (for rows to score)."""
        from mloop.data.batch_checks import table_errors

        return table_errors(self, table, duplicates=duplicates)

    def validate_table(self, table: pa.Table) -> ValidationReport:
        """Counts per column and rule with example rows, without one object per bad value."""
        from mloop.data.batch_checks import validate_table

        return validate_table(self, table)


def is_number_text(text: str) -> bool:
    return NUMBER.fullmatch(text) is not None
