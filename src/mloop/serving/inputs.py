"""A model's input columns from a request's plain columns, as ``scoring.features.coerce`` makes them.

Training and batch scoring coerce a DataFrame with ``coerce``; serving must give the model the very
same values (no training–serving skew) but cannot afford pandas' per-column machinery on every
request. ``coerce_columns`` does the same work on lists and arrays for the values JSON and V2
bodies hold (numbers, text, booleans, null), and hands any column holding something else to
``coerce`` itself, on that one column. tests/serving/test_runner.py checks the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mloop.data.schema import FALSE_STRINGS, TRUE_STRINGS, category_text
from mloop.scoring.features import MISSING, FeatureSpec, coerce

Column = Sequence[Any] | np.ndarray
_PLAIN_NUMBERS = (int, float)


def _slow(name: str, values: Column, spec: FeatureSpec) -> np.ndarray:
    """The column through ``coerce`` itself (for values the fast paths do not cover)."""
    single = FeatureSpec(
        numeric=(name,) if name in spec.numeric else (),
        categorical=(name,) if name in spec.categorical else (),
        dropped=(),
        boolean=(name,) if name in spec.boolean else (),
    )
    column = pd.Series(values)
    result: np.ndarray = coerce(pd.DataFrame({name: column}), single)[name].to_numpy()
    return result


def numbers(values: Column) -> np.ndarray | None:
    """float64 with NaN for missing and for ±inf, or None when ``values`` needs ``coerce``."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind not in "biuf":
            return None
        out = values.astype(np.float64)  # a copy: safe to write NaN into
    else:
        if not all(v is None or type(v) in _PLAIN_NUMBERS for v in values):
            return None
        out = np.array(values, dtype=np.float64)  # None -> NaN
    out[np.isinf(out)] = np.nan
    return out


def _truth(text: str) -> str:
    folded = text.strip().lower()
    if folded in TRUE_STRINGS:
        return "True"
    if folded in FALSE_STRINGS:
        return "False"
    return text


def categories(values: Column, *, boolean: bool) -> np.ndarray:
    """Category strings (``MISSING`` for missing); truth values spelled True/False for ``boolean``."""
    items = values.tolist() if isinstance(values, np.ndarray) else values
    out = np.empty(len(items), dtype=object)
    for i, value in enumerate(items):
        if value is None or (type(value) is float and value != value):
            out[i] = MISSING
            continue
        text = value if type(value) is str else category_text(value)
        out[i] = _truth(text) if boolean else text
    return out


def _plain(values: Column) -> bool:
    """Values ``categories`` reads exactly as ``coerce`` does (JSON scalars)."""
    if isinstance(values, np.ndarray):
        return values.dtype.kind in "biufUO" and (
            values.dtype.kind != "O" or _plain(values.tolist())
        )
    return all(v is None or type(v) in (str, int, float, bool) for v in values)


def coerce_columns(
    columns: Mapping[str, Column], n_rows: int, spec: FeatureSpec
) -> dict[str, np.ndarray]:
    """The model's input columns, in ``spec`` order; an absent column is all missing.

    A request without a feature column only reaches scoring when validation lets it (the column
    is optional, or ``on_invalid = "warn"``): its values are missing, as the imputer expects.
    """
    out: dict[str, np.ndarray] = {}
    absent: list[Any] = [None] * n_rows
    for name in spec.numeric:
        values = columns.get(name, absent)
        found = numbers(values)
        out[name] = found if found is not None else _slow(name, values, spec)
    for name in spec.categorical:
        values = columns.get(name, absent)
        if _plain(values):
            out[name] = categories(values, boolean=name in spec.boolean)
        else:
            out[name] = _slow(name, values, spec)
    return out


FEW_ROWS = 16  # a request's usual size: a type check per value costs less than an Arrow array
INT64 = (-(2**63), 2**63)


def _numbers_already(values: Column) -> bool:
    """Whether ``values`` are JSON numbers (or missing) as sent: a few rows by their Python
    types (0.3 µs for one, where building an Arrow array took 7-9 µs, paid per numeric column
    per request), more by Arrow in C++. Text, booleans, a mix of them, and integers past int64
    are not."""
    if isinstance(values, np.ndarray):
        return values.dtype.kind in "iuf"
    if len(values) <= FEW_ROWS:
        return all(
            v is None or type(v) is float or (type(v) is int and INT64[0] <= v < INT64[1])
            for v in values
        )
    try:
        kind = pa.array(values).type
    except (pa.ArrowException, OverflowError, TypeError):
        return False
    return bool(pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind))


def scored_numbers(
    name: str, values: Column, spec: FeatureSpec, *, integer: bool = False
) -> list[Any] | None:
    """A numeric feature column as the numbers the model scored, for the prediction log; None
    when the request sent numbers already (the log keeps those as sent).

    The row validator accepts the text of a number (``"72"``) and ``on_invalid = "warn"`` scores
    anything; logged as sent, such a value would make the log's column text (or bool) in that
    segment, and every merged read would see the column's numbers as text. Missing values stay
    null; an ``integer`` column stays integral when every value is, so its column keeps its type.
    """
    if _numbers_already(values):
        return None
    found = numbers(values)
    scored = found if found is not None else _slow(name, values, spec)
    missing = pd.isna(np.asarray(values, dtype=object))
    present = scored[~missing]
    integral = np.isfinite(present) & (np.floor(present) == present) & (abs(present) < 2.0**63)
    whole = integer and bool(np.all(integral))
    out = np.array(
        (np.where(missing, 0, scored).astype(np.int64) if whole else scored).tolist(), dtype=object
    )
    out[missing] = None
    result: list[Any] = out.tolist()
    return result


def slice_columns(columns: Mapping[str, Column], start: int, stop: int) -> dict[str, Column]:
    return {name: values[start:stop] for name, values in columns.items()}
