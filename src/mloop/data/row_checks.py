"""The row validator: JSON records checked one value at a time, fast enough for every request.

A pydantic-core validator built once from the compiled schema accepts a clean record in a few
microseconds; it is built to accept only what the exact checks below accept, so a record it passes
has nothing to report. A record it refuses, and anything it cannot express (dates, custom checks,
rules across records), goes through the exact checks, which give the same ``FieldError``s as the
batch validator (data/batch_checks.py) for the same values; a JSON boolean in a numeric column is
the one value they judge apart (``as_number``): Arrow has no JSON ``true`` to confuse with ``1``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from pydantic_core import PydanticCustomError, SchemaValidator, ValidationError
from pydantic_core import core_schema as cs

from mloop.data.compiled import (
    DUPLICATE_ROWS,
    MIN_ROWS_FOR_RATES,
    CompiledColumn,
    is_number_text,
)
from mloop.data.dates import read_instants
from mloop.data.schema import (
    BOOLEAN_PAIRS,
    TRUTH_STRINGS,
    category_text,
    utc_instants,
)
from mloop.data.violations import FieldError, Violations, plain
from mloop.errors import InvalidInput

if TYPE_CHECKING:
    from mloop.data.compiled import CompiledSchema


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def as_number(value: Any) -> float | None:
    """The number a value stands for in a numeric column; None when it is not one.

    A boolean is not one: JSON keeps ``true`` apart from ``1``, so a client sending ``true`` for
    a number has a bug that scoring it as 1.0 would hide (a 422 ``type`` names it instead). Text
    stays the text of a number (``"72"``), as a CSV file writes it. An Arrow table's boolean
    column, which ``batch_checks`` reads (a file's 0/1 flag column), is not a JSON value.
    """
    if isinstance(value, bool | np.bool_):
        return None
    if isinstance(value, int | float | np.integer | np.floating):
        return float(value)
    if isinstance(value, str) and is_number_text(value):
        return float(value)
    return None


@lru_cache(maxsize=4096)
def _parsed_instant(text: str) -> dt.datetime | None:
    try:
        stamp = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        parsed = utc_instants(pd.Series([text], dtype=object)).iloc[0]
        return None if pd.isna(parsed) else parsed.to_pydatetime()
    return stamp.replace(tzinfo=dt.UTC) if stamp.tzinfo is None else stamp.astimezone(dt.UTC)


@lru_cache(maxsize=4096)
def _instant_in_format(text: str, fmt: str) -> dt.datetime | None:
    parsed = read_instants(pd.Series([text], dtype=object), fmt).iloc[0]
    return None if pd.isna(parsed) else parsed.to_pydatetime()


def as_instant(value: Any, fmt: str | None = None) -> dt.datetime | None:
    """The UTC instant a value stands for in a datetime column; None when it is not a date.

    Text is read in ``fmt``, the format of the column's training file, when the schema has one:
    the same text is the same instant at training and at serving time."""
    if isinstance(value, dt.datetime):
        stamp = pd.Timestamp(value)
        return (
            stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")
        ).to_pydatetime()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC)
    if isinstance(value, str):
        return _parsed_instant(value) if fmt is None else _instant_in_format(value, fmt)
    return None


def value_rules(column: CompiledColumn, value: Any) -> tuple[list[str], bool]:
    """(rules the present ``value`` breaks among type/min/max/allowed, is it an outlier)."""
    rules: list[str] = []
    outlier = False
    if column.numeric:
        number = as_number(value)
        if number is None or (
            column.type == "integer" and math.isfinite(number) and not number.is_integer()
        ):
            rules.append("type")
        else:
            if column.low is not None and number < column.low:
                rules.append("min")
            if column.high is not None and number > column.high:
                rules.append("max")
            if column.fences is not None:
                outlier = number < column.fences[0] or number > column.fences[1]
    elif column.type == "boolean":
        if isinstance(value, bool | np.bool_):
            pass
        elif isinstance(value, int | float | np.integer | np.floating):
            if value not in (0, 1):
                rules.append("type")
        elif not (isinstance(value, str) and value.strip().lower() in TRUTH_STRINGS):
            rules.append("type")
    elif column.type == "datetime":
        instant = as_instant(value, column.source.format)
        if instant is None:
            rules.append("type")
        else:
            if column.earliest is not None and instant < column.earliest:
                rules.append("min")
            if column.latest is not None and instant > column.latest:
                rules.append("max")
    if column.allowed is not None and category_text(value) not in column.allowed:
        rules.append("allowed")
    return rules, outlier


def _key(value: Any) -> Any:
    """A hashable stand-in for a value when finding repeats (missing values are all alike)."""
    if _missing(value):
        return None
    try:
        hash(value)
    except TypeError:
        return repr(value)
    return value


# --- the fast filter ---------------------------------------------------------------------------

_SPELLINGS = sorted(
    {s for pair in BOOLEAN_PAIRS for word in pair for s in (word, word.upper(), word.title())}
    | {"1", "0"}
)


def _exact(column: CompiledColumn) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if _missing(value) or value_rules(column, value) != ([], False):
            raise PydanticCustomError("mloop", "needs the exact checks")
        return value

    return check


def _fast_field(column: CompiledColumn) -> cs.CoreSchema:
    """A pydantic-core schema accepting a subset of what the exact checks accept for ``column``."""
    low = max(
        (b for b in (column.low, column.fences and column.fences[0]) if b is not None), default=None
    )
    high = min(
        (b for b in (column.high, column.fences and column.fences[1]) if b is not None),
        default=None,
    )
    inner: cs.CoreSchema
    if column.allowed is not None and column.type not in {"categorical", "string"}:
        inner = cs.no_info_plain_validator_function(_exact(column))
    elif column.type == "integer":
        inner = cs.int_schema(
            strict=True,
            ge=None if low is None else math.ceil(low),
            le=None if high is None else math.floor(high),
        )
    elif column.type == "float":
        # NaN is a missing value: fine where missing values are (inf then fails any bound)
        inner = cs.float_schema(strict=True, allow_inf_nan=column.nullable, ge=low, le=high)
    elif column.type == "boolean" and column.allowed is None:
        inner = cs.union_schema([cs.bool_schema(strict=True), cs.literal_schema(_SPELLINGS)])
    elif column.type in {"categorical", "string"}:
        inner = (
            cs.str_schema(strict=True)
            if column.allowed is None
            else cs.literal_schema(sorted(column.allowed))
        )
    else:
        inner = cs.no_info_plain_validator_function(_exact(column))
    if column.nullable:  # a rate over one record is no rate: one request may miss a value
        inner = cs.nullable_schema(inner)
    return inner


def fast_validator(columns: Sequence[CompiledColumn]) -> SchemaValidator:
    fields = {
        c.name: cs.typed_dict_field(_fast_field(c), required=c.required or not c.nullable)
        for c in columns
    }
    return SchemaValidator(cs.typed_dict_schema(fields, extra_behavior="ignore"))


class RowValidator:
    """Built once per compiled schema: the fast filter, then exact checks where it refuses."""

    def __init__(self, compiled: CompiledSchema) -> None:
        self.compiled = compiled
        self.columns = compiled.columns
        self.fast = fast_validator(self.columns)

    def _passes(self, record: Mapping[str, Any]) -> bool:
        try:
            self.fast.validate_python(record)
        except ValidationError:
            return False
        return True

    def check(self, records: Sequence[Mapping[str, Any]]) -> Violations:
        for index, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise InvalidInput(
                    f"Record {index + 1} is {type(record).__name__}, not an object of column values; "
                    'send objects like {"column": value}.'
                )
        # the fast filter vouches for one record's values; a rate over several records
        # (max_null_rate) is counted below from every record, passed or not
        clean = [self._passes(record) for record in records]
        if len(records) == 1 and clean[0] and not self.compiled.checks:
            return Violations()
        errors: list[FieldError] = []
        warnings: list[FieldError] = []
        names: dict[str, None] = {}
        for record in records:
            names.update(dict.fromkeys(record))
        for column in self.columns:
            if column.name not in names:
                if column.required:
                    errors.append(
                        FieldError(None, column.name, "required", None, column.message("required"))
                    )
                continue
            self._column(column, records, clean, errors, warnings)
        self._duplicates(records, list(names), errors, warnings)
        self._custom(records, list(names), errors)
        return Violations(errors, warnings)

    def _column(
        self,
        column: CompiledColumn,
        records: Sequence[Mapping[str, Any]],
        clean: list[bool],
        errors: list[FieldError],
        warnings: list[FieldError],
    ) -> None:
        name = column.name
        missing = [i for i, r in enumerate(records) if _missing(r.get(name))]
        if missing and not column.nullable:
            errors.extend(
                FieldError(i + 1, name, "nullable", None, column.message("nullable"))
                for i in missing
            )
        if (
            missing
            and column.max_null_rate is not None
            and len(records) >= MIN_ROWS_FOR_RATES
            and len(missing) / len(records) > column.max_null_rate
        ):
            message = column.null_rate_message(len(missing) / len(records))
            errors.extend(FieldError(i + 1, name, "max_null_rate", None, message) for i in missing)
        outliers: list[FieldError] = []
        for i, record in enumerate(records):
            value = record.get(name)
            if clean[i] or _missing(value):
                continue
            rules, outlier = value_rules(column, value)
            errors.extend(
                FieldError(i + 1, name, rule, plain(value), column.message(rule)) for rule in rules
            )
            if outlier:
                outliers.append(
                    FieldError(i + 1, name, "outliers", plain(value), column.message("outliers"))
                )
        (errors if column.outliers == "error" else warnings).extend(outliers)
        if column.unique:
            seen: set[Any] = set()
            for i, record in enumerate(records):
                value = record.get(name)
                if _missing(value):
                    continue
                key = _key(value)
                if key in seen:
                    errors.append(
                        FieldError(i + 1, name, "unique", plain(value), column.message("unique"))
                    )
                seen.add(key)

    def _duplicates(
        self,
        records: Sequence[Mapping[str, Any]],
        names: list[str],
        errors: list[FieldError],
        warnings: list[FieldError],
    ) -> None:
        if len(records) < 2:
            return
        seen: set[tuple[Any, ...]] = set()
        repeats: list[int] = []
        for i, record in enumerate(records):
            key = tuple(_key(record.get(n)) for n in names)
            if key in seen:
                repeats.append(i)
            seen.add(key)
        if not repeats:
            return
        message = self.compiled.duplicate_message(len(repeats), len(records))
        target = errors if self.compiled.duplicates_fail(len(repeats), len(records)) else warnings
        target.extend(FieldError(i + 1, "*", DUPLICATE_ROWS, None, message) for i in repeats)

    def _custom(
        self, records: Sequence[Mapping[str, Any]], names: list[str], errors: list[FieldError]
    ) -> None:
        if not self.compiled.checks:
            return
        frame = pd.DataFrame.from_records(list(records), columns=names)
        for check in self.compiled.checks:
            for row in check.bad_rows(frame):
                errors.append(FieldError(int(row) + 1, "*", check.rule, None, check.message))
