"""The pandas validator mloop used before compiled validators, kept only as the benchmark's peer.

A copy of src/mloop/data/validation.py as of commit 69e82c6 (reading every file into a pandas
frame, importing custom checks on every call); benchmarks/validation.py times it beside
``Schema.compile``. Not part of the package, not maintained beyond running.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mloop.callables import load_callable
from mloop.data.schema import (
    FALSE_STRINGS,
    TRUE_STRINGS,
    ColumnSchema,
    CustomCheck,
    Schema,
    utc_instant,
    utc_instants,
)
from mloop.data.violations import ValidationReport, Violation
from mloop.errors import InvalidInput

MAX_EXAMPLES = 5


def _numeric(series: pd.Series) -> pd.Series:
    """Numbers, NaN where a value is not one; dates and durations are not (to_numeric would
    turn them into nanosecond counts that pass any integer check)."""
    if pd.api.types.is_bool_dtype(series.dtype):
        return series.astype(float)
    if pd.api.types.is_datetime64_any_dtype(series.dtype) or pd.api.types.is_timedelta64_dtype(
        series.dtype
    ):
        return pd.Series(np.nan, index=series.index)
    return pd.to_numeric(series, errors="coerce")


def _type_mask(column: ColumnSchema, series: pd.Series, present: np.ndarray) -> np.ndarray:
    kind = column.type
    if kind in {"integer", "float"}:
        numbers = _numeric(series).to_numpy(dtype=float, na_value=np.nan)
        bad: np.ndarray = present & np.isnan(numbers)
        if kind == "integer":
            with np.errstate(invalid="ignore"):
                bad |= present & ~np.isnan(numbers) & (np.floor(numbers) != numbers)
        return bad
    if kind == "boolean":
        if pd.api.types.is_bool_dtype(series.dtype):
            return np.zeros(len(series), dtype=bool)
        text = series.astype(str).str.strip().str.lower()
        return present & ~text.isin(TRUE_STRINGS | FALSE_STRINGS).to_numpy()
    if kind == "datetime":
        if pd.api.types.is_datetime64_any_dtype(series.dtype):
            return np.zeros(len(series), dtype=bool)
        if pd.api.types.is_numeric_dtype(series.dtype):
            return present  # 2013 is not a date: to_datetime would read it as nanoseconds
        return present & utc_instants(series).isna().to_numpy()
    return np.zeros(len(series), dtype=bool)


def _range_masks(
    column: ColumnSchema, series: pd.Series, present: np.ndarray
) -> dict[str, np.ndarray]:
    masks: dict[str, np.ndarray] = {}
    if column.type in {"integer", "float"}:
        values = _numeric(series).to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            if column.min is not None:
                masks["min"] = present & (values < float(column.min))
            if column.max is not None:
                masks["max"] = present & (values > float(column.max))
    elif column.type == "datetime" and (column.min is not None or column.max is not None):
        stamps = utc_instants(series)
        if column.min is not None:
            masks["min"] = present & (stamps < utc_instant(column.min)).to_numpy(
                dtype=bool, na_value=False
            )
        if column.max is not None:
            masks["max"] = present & (stamps > utc_instant(column.max)).to_numpy(
                dtype=bool, na_value=False
            )
    return masks


def _as_text(series: pd.Series) -> pd.Series:
    values = series.astype(object)
    return values.map(lambda v: str(int(v)) if isinstance(v, float) and v.is_integer() else str(v))


def check_column(column: ColumnSchema, series: pd.Series) -> list[tuple[str, np.ndarray, str]]:
    """(rule, bad-row mask, message) for every rule this column breaks; empty when clean."""
    present = series.notna().to_numpy()
    results: list[tuple[str, np.ndarray, str]] = []
    nulls = ~present
    if not column.nullable and nulls.any():
        results.append(("nullable", nulls, "missing values in a column that must not have any"))
    if column.max_null_rate is not None and len(series) and nulls.mean() > column.max_null_rate:
        results.append(
            (
                "max_null_rate",
                nulls,
                f"null rate {nulls.mean():.1%} is above {column.max_null_rate:.1%}",
            )
        )
    bad_type = _type_mask(column, series, present)
    if bad_type.any():
        results.append(("type", bad_type, f"values that are not {column.type}"))
    ok_type = present & ~bad_type
    for rule, mask in _range_masks(column, series, ok_type).items():
        if mask.any():
            bound = column.min if rule == "min" else column.max
            relation = "below the minimum" if rule == "min" else "above the maximum"
            results.append((rule, mask, f"values {relation} {bound}"))
    if column.allowed is not None:
        allowed = {str(v) for v in column.allowed}
        outside = present & ~_as_text(series).isin(allowed).to_numpy()
        if outside.any():
            results.append(
                ("allowed", outside, f"values outside the allowed set ({len(allowed)} values)")
            )
    if column.unique:
        duplicated = present & series.duplicated(keep="first").to_numpy()
        if duplicated.any():
            results.append(
                ("unique", duplicated, "repeated values in a column that must be unique")
            )
    return results


def _resolve_check(check: CustomCheck, root: Path | None) -> Callable[[pd.DataFrame], Any]:
    function: Callable[[pd.DataFrame], Any] = load_callable(
        check.callable, root=root, what=f"Check {check.name!r}"
    )
    return function


def _run_check(check: CustomCheck, frame: pd.DataFrame, root: Path | None) -> np.ndarray:
    function = _resolve_check(check, root)
    try:
        result = function(frame)
    except Exception as exc:
        raise InvalidInput(
            f"Check {check.name!r} ({check.callable}) raised {type(exc).__name__}: {exc}."
        ) from exc
    ok = np.asarray(result, dtype=bool)
    if ok.shape != (len(frame),):
        raise InvalidInput(
            f"Check {check.name!r} must return one True/False per row ({len(frame)}); it returned shape {ok.shape}."
        )
    return ~ok


def _jsonable(value: Any) -> Any:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):
        return value.item()
    return str(value)


def _violation(
    column: str, rule: str, mask: np.ndarray, message: str, series: pd.Series | None
) -> Violation:
    rows = np.flatnonzero(mask)
    examples = [int(r) + 1 for r in rows[:MAX_EXAMPLES]]
    values: list[Any] = []
    if series is not None:
        values = [_jsonable(v) for v in series.iloc[rows[:MAX_EXAMPLES]]]
    return Violation(column, rule, int(mask.sum()), examples, message, values)


def validate_frame(
    schema: Schema, frame: pd.DataFrame, *, root: Path | None = None
) -> ValidationReport:
    """Check ``frame`` against every rule of ``schema``; raises ``InvalidInput`` only for a broken custom check."""
    violations: list[Violation] = []
    frame = frame.reset_index(drop=True)
    for column in schema.columns:
        if column.name not in frame.columns:
            if column.required:
                violations.append(
                    Violation(
                        column.name,
                        "required",
                        len(frame),
                        [],
                        "the column is missing from the file",
                    )
                )
            continue
        series = frame[column.name]
        for rule, mask, message in check_column(column, series):
            violations.append(_violation(column.name, rule, mask, message, series))
    for check in schema.checks:
        bad = _run_check(check, frame, root)
        if bad.any():
            violations.append(
                _violation(
                    "*", f"check:{check.name}", bad, check.description or check.callable, None
                )
            )
    return ValidationReport(rows_checked=len(frame), violations=violations)
