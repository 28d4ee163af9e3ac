"""The schema: column types plus the rules data must satisfy, inferred, editable and versioned.

One ``Schema`` object validates training data, holdouts, and (later) serving requests and
monitoring windows. It is stored as JSON in the metadata store and exported/imported as a
readable JSON file for people to edit.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from mloop.data.dates import DATE_FORMATS
from mloop.data.refs import shortlist
from mloop.errors import InvalidInput
from mloop.plural import plural

if TYPE_CHECKING:
    from mloop.data.compiled import CompiledSchema
    from mloop.data.profile import DatasetProfile

ColumnType = Literal["integer", "float", "boolean", "categorical", "string", "datetime"]
MAX_CATEGORIES = 50
CATEGORICAL_RATIO = 0.5
# 63 distinct first names are likely by chance; 100 distinct values of a non-key column are not.
MIN_ROWS_FOR_UNIQUE = 100
Scalar = str | int | float | bool
# The spellings a boolean column may hold as text (any case, surrounding spaces ignored).
# Inference wants one pair per column ("yes"/"no", never "yes"/"n"); validation accepts any.
BOOLEAN_PAIRS = (("true", "false"), ("t", "f"), ("yes", "no"), ("y", "n"))
TRUE_STRINGS = frozenset({"1", *(true for true, _ in BOOLEAN_PAIRS)})
FALSE_STRINGS = frozenset({"0", *(false for _, false in BOOLEAN_PAIRS)})
TRUTH_STRINGS = TRUE_STRINGS | FALSE_STRINGS  # every spelling of a truth value


def utc_instants(values: pd.Series) -> pd.Series:
    """Datetimes as UTC instants (unparseable -> NaT), so zoned, naive and mixed-offset values compare.

    A time without a zone is taken as UTC: one rule for every column and every bound, so a
    naive bound like ``"2026-01-31"`` means the same instant for naive and zoned data.
    """
    return pd.Series(pd.to_datetime(values, errors="coerce", format="mixed", utc=True))


def utc_instant(value: Any) -> pd.Timestamp:
    """A schema bound as a UTC instant; raises ``ValueError``/``TypeError`` for a non-date."""
    stamp = pd.Timestamp(str(value))
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


class CustomCheck(BaseModel):
    """A Python function ``module:function`` taking the DataFrame, returning True for good rows."""

    model_config = ConfigDict(extra="forbid")
    name: str
    callable: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    description: str | None = None


class ColumnSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    type: ColumnType
    required: bool = True
    nullable: bool = True
    min: int | float | str | None = None
    max: int | float | str | None = None
    allowed: list[Scalar] | None = None
    max_null_rate: float | None = Field(default=None, ge=0.0, le=1.0)
    unique: bool = False
    # Values far outside the reference profile's range (see data/outliers.py): reported as
    # warnings by default, failing validation with "error", not looked for with "ignore".
    outliers: Literal["warn", "error", "ignore"] = "warn"
    # The format a datetime column's text was read with when inferred (``%m/%d/%y``): its later
    # text (requests, files, the log) is read with it too, never guessed again (data/dates.py).
    format: str | None = Field(default=None, min_length=2)

    @model_validator(mode="after")
    def _format_is_a_dates(self) -> ColumnSchema:
        if self.format is not None and (self.type != "datetime" or "%" not in self.format):
            raise ValueError(
                "format is the way a datetime column's dates are written, like "
                f'"%d/%m/%Y"; {self.format!r} on a {self.type} column is not one'
            )
        return self

    @model_validator(mode="after")
    def _bounds_fit_the_type(self) -> ColumnSchema:
        bounds: dict[str, Any] = {
            k: v for k, v in (("min", self.min), ("max", self.max)) if v is not None
        }
        if not bounds:
            return self
        if self.type in {"integer", "float"}:
            for key, value in bounds.items():
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(
                        f"{key} of a {self.type} column must be a number, not {value!r}"
                    )
        elif self.type == "datetime":
            for key, value in bounds.items():
                try:
                    bounds[key] = utc_instant(value)
                except (ValueError, TypeError):
                    raise ValueError(
                        f'{key} of a datetime column must be a date like "2026-01-31", not {value!r}'
                    ) from None
        else:
            raise ValueError(f"min/max apply to numbers and dates, not to a {self.type} column")
        if len(bounds) == 2 and bounds["min"] > bounds["max"]:
            raise ValueError(f"min {self.min!r} is above max {self.max!r}")
        return self


class Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")
    columns: list[ColumnSchema]
    checks: list[CustomCheck] = Field(default_factory=list)
    # Rows repeating an earlier row are always reported; above this share they fail validation.
    max_duplicate_rate: float | None = Field(default=None, ge=0.0, le=1.0)

    @field_validator("columns")
    @classmethod
    def _unique_names(cls, columns: list[ColumnSchema]) -> list[ColumnSchema]:
        counts = Counter(c.name for c in columns)  # names.count per name was quadratic
        duplicates = sorted(n for n, count in counts.items() if count > 1)
        if duplicates:
            raise ValueError(f"column(s) listed twice: {', '.join(duplicates)}")
        return columns

    def __repr__(self) -> str:
        # A wide table's rules run to kilobytes: name the first columns, count the rest.
        names = shortlist(self.names(), limit=6)
        checks = f"; {plural(len(self.checks), 'check')}" if self.checks else ""
        return f"Schema({plural(len(self.columns), 'column')}: {names}{checks})"

    def column(self, name: str) -> ColumnSchema:
        for column in self.columns:
            if column.name == name:
                return column
        raise InvalidInput(
            f"No column {name!r} in the schema; columns are: {shortlist(self.names())}."
        )

    def compile(
        self, profile: DatasetProfile | Mapping[str, Any] | None = None, *, root: Path | None = None
    ) -> CompiledSchema:
        """The validators of this schema, built once: custom checks imported, fences computed
        from ``profile`` (the reference dataset version's profile, an object or as stored), the
        row validator built."""
        from mloop.data.compiled import CompiledSchema

        return CompiledSchema(self, profile=profile, root=root)

    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    def date_formats(self) -> dict[str, str]:
        """The format of each datetime column read from text, by column name (see data/dates.py)."""
        return {c.name: c.format for c in self.columns if c.format is not None}

    def feature_columns(self, exclude: tuple[str, ...] | list[str] = ()) -> list[ColumnSchema]:
        return [c for c in self.columns if c.name not in exclude]

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=False)
        for column in data["columns"]:
            if column["format"] is None:
                del column["format"]  # only datetime columns read from text have one
        return data

    @classmethod
    def from_json(cls, data: Any, *, source: str = "the schema") -> Schema:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = list(first["loc"])
            if len(loc) >= 2 and loc[0] == "columns" and isinstance(loc[1], int):
                columns = data.get("columns") if isinstance(data, dict) else None
                entry = columns[loc[1]] if isinstance(columns, list) else None
                if isinstance(entry, dict) and "name" in entry:
                    loc = [f"column {entry['name']!r}", *loc[2:]]
            where = ".".join(str(p) for p in loc) or "the top level"
            message = str(first["msg"]).removeprefix("Value error, ")
            raise InvalidInput(
                f"{source} is not a valid schema: {where}: {message}; fix that field."
            ) from exc

    def to_file(self, path: Path) -> None:
        path.write_text(
            json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )

    @classmethod
    def from_file(cls, path: Path) -> Schema:
        try:
            text = path.read_text(encoding="utf-8-sig")  # Windows editors add a BOM
        except FileNotFoundError as exc:
            raise InvalidInput(
                f"{path} does not exist; export one with `mloop data schema NAME --export {path}`."
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidInput(f"Cannot read {path} as UTF-8 text ({exc}).") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}).") from exc
        schema = cls.from_json(data, source=str(path))
        # Refused where a person writes it, not where it is stored: schemas an earlier mloop
        # accepted with an empty list must still load (they reject every value, as they say).
        empty = [c.name for c in schema.columns if c.allowed == []]
        if empty:
            raise InvalidInput(
                f"{path} is not a valid schema: column {empty[0]!r}.allowed: an empty list allows "
                "no value; use null to allow any value; fix that field."
            )
        return schema


def _is_integral(values: np.ndarray) -> bool:
    finite = values[np.isfinite(values)]
    return (
        bool(len(finite))
        and bool(np.all(np.floor(finite) == finite))
        and bool(np.all(np.abs(finite) < 2**53))
    )


def category_text(value: Any) -> str:
    """How a category is spelled whatever the file's types: ``3.0`` is ``"3"``, ``True`` is ``"True"``.

    The one rule for comparing a value with an ``allowed`` set, for reading truth values and for
    the model's category strings, so validation, training and serving agree on a value.
    """
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def category_texts(series: pd.Series) -> pd.Series:
    """``category_text`` of every value (missing values included: callers mask them)."""
    return series.astype(object).map(category_text)


def read_truth(series: pd.Series) -> pd.Series:
    """True/False for every spelling ``as_booleans`` reads; ``pd.NA`` for missing and for any
    other value (a caller that must not fail on one, such as serving, decides what it means)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype("boolean")
    text = category_texts(series).str.strip().str.lower()
    truth = pd.Series(pd.NA, index=series.index, dtype="boolean")
    truth[text.isin(TRUE_STRINGS)] = True
    truth[text.isin(FALSE_STRINGS)] = False
    truth[series.isna()] = pd.NA
    return truth


def as_booleans(series: pd.Series, *, what: str = "a boolean column") -> pd.Series:
    """True/False (``pd.NA`` for missing) from bools, 0/1 or any spelling in ``TRUE_STRINGS``/``FALSE_STRINGS``.

    A boolean column keeps the spelling of its file when loaded (so a model's categories match
    requests written the same way); this is the one reading of it as truth values. Raises
    ``InvalidInput`` naming the first value that is none of these.
    """
    truth = read_truth(series)
    unread = series.notna() & truth.isna()
    if unread.any():
        raise InvalidInput(
            f"{series[unread].iloc[0]!r} in {what} is not true or false; "
            "use one of true/false, yes/no, y/n, t/f or 1/0."
        )
    return truth


def _is_boolean_text(values: pd.Series) -> bool:
    """Every value is one side of one pair in ``BOOLEAN_PAIRS``; a lone letter (all "Y") is a code."""
    return _is_boolean_spelling(list(values.unique()))


def _is_boolean_spelling(distinct: Sequence[object]) -> bool:
    if len(distinct) > 16 or not all(isinstance(v, str) for v in distinct):
        return False  # a flag has a handful of spellings ("Yes", "YES", " yes"); text has more
    spelled = {str(v).strip().lower() for v in distinct}
    for pair in BOOLEAN_PAIRS:
        if spelled <= set(pair):
            return len(pair[0]) > 1 or len(spelled) == 2
    return False


def infer_type(series: pd.Series) -> ColumnType:
    values = series.dropna()
    dtype = series.dtype
    if (
        values.empty
        and not pd.api.types.is_numeric_dtype(dtype)
        and not pd.api.types.is_datetime64_any_dtype(dtype)
    ):
        return "string"  # nothing seen: no categories to allow, no type to insist on
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        return "integer"
    if pd.api.types.is_float_dtype(dtype):
        return "integer" if _is_integral(values.to_numpy(dtype=float)) else "float"
    if len(values) and all(isinstance(v, bool | np.bool_) for v in values.head(1000)):
        return "boolean"
    if len(values) and _is_boolean_text(values):
        return "boolean"
    return _categorical_or_string(len(values), values.astype(str).nunique())


def _categorical_or_string(present: int, distinct: int) -> ColumnType:
    """Few values, each repeated (or too few rows to tell): categories; otherwise free text."""
    if distinct <= MAX_CATEGORIES and (
        distinct <= CATEGORICAL_RATIO * max(present, 1) or present < 20
    ):
        return "categorical"
    return "string"


def inferred_null_limit(nulls: int, rows: int) -> float | None:
    """The ``max_null_rate`` inferred from a column's observed share of missing values.

    Twice the observed rate, and at least five points above it (a sample's rate wanders), rounded
    up to a whole percent: 3% missing allows 8%, 20% allows 40%. A column without missing values
    is not nullable (a stricter rule already); one past half missing gets no limit (it would be
    100%).
    """
    if not nulls or not rows:
        return None
    rate = nulls / rows
    limit = math.ceil(round(100 * max(2 * rate, rate + 0.05), 6)) / 100
    return limit if limit < 1 else None


def infer_column(name: str, series: pd.Series) -> ColumnSchema:
    """Rules a later batch of the same data should still satisfy.

    Observed extremes are not rules: a fresh sample from the same distribution exceeds last month's
    maximum as a matter of course, and a gate that fails on that is a gate people switch off. The
    profile keeps the observed range (monitoring compares against it); the schema keeps only a
    lower bound of 0 for a column that was never negative, since a negative count, price or age is
    an error far more often than news. Low-cardinality categories do become the allowed set: an
    unseen category is a real change the model was not trained for.
    """
    kind = infer_type(series)
    nulls = int(series.isna().sum())
    values = series.dropna()
    column = ColumnSchema(
        name=name,
        type=kind,
        nullable=nulls > 0,
        max_null_rate=inferred_null_limit(nulls, len(series)),
    )
    if kind in {"integer", "float"} and len(values):
        if pd.to_numeric(values, errors="coerce").min() >= 0:
            column.min = 0
    elif kind == "categorical":
        column.allowed = sorted({str(v) for v in values})
    if (
        kind in {"integer", "string"}
        and len(values) == len(series)
        and len(values) >= MIN_ROWS_FOR_UNIQUE
        and values.nunique() == len(values)
    ):
        column.unique = True
    return column


@dataclass(frozen=True)
class TextColumn:
    """A column of text as inference and profiling see it, counted once with Arrow (hashing a
    million strings in C, never making Python objects of them)."""

    column: pa.ChunkedArray
    rows: int
    nulls: int
    distinct: int
    # (value, count) in order of first appearance, as pandas' value_counts sees them; only for
    # a column of at most MAX_CATEGORIES values, the only ones whose values are ever listed.
    counts: list[tuple[str, int]] | None

    @classmethod
    def of(cls, column: pa.ChunkedArray) -> TextColumn:
        counted = pc.value_counts(column)
        values, counts = counted.field("values"), counted.field("counts")
        if column.null_count:
            present = values.is_valid()
            values, counts = values.filter(present), counts.filter(present)
        listed = None
        if len(values) <= MAX_CATEGORIES:
            listed = list(zip(values.to_pylist(), counts.to_pylist(), strict=True))
        return cls(column, len(column), column.null_count, len(values), listed)


def infer_text_column(name: str, text: TextColumn) -> ColumnSchema:
    """``infer_column`` for a column of Python strings and ``None``, from its Arrow counts."""
    present = text.rows - text.nulls
    values = [v for v, _ in text.counts] if text.counts is not None else None
    kind: ColumnType = "string"
    if present and values is not None and len(values) <= 16 and _is_boolean_spelling(values):
        kind = "boolean"
    elif present:
        kind = _categorical_or_string(present, text.distinct)
    column = ColumnSchema(
        name=name,
        type=kind,
        nullable=text.nulls > 0,
        max_null_rate=inferred_null_limit(text.nulls, text.rows),
    )
    if kind == "categorical" and values is not None:
        column.allowed = sorted(values)
    if (
        kind == "string"
        and present == text.rows
        and present >= MIN_ROWS_FOR_UNIQUE
        and text.distinct == present
    ):
        column.unique = True
    return column


def infer_schema(frame: pd.DataFrame) -> Schema:
    columns = [infer_column(str(name), frame[name]) for name in frame.columns]
    formats = frame.attrs.get(DATE_FORMATS) or {}
    for column in columns:
        if column.type == "datetime":
            column.format = formats.get(column.name)
    return Schema(columns=columns)
