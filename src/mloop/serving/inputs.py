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


def slice_columns(columns: Mapping[str, Column], start: int, stop: int) -> dict[str, Column]:
    return {name: values[start:stop] for name, values in columns.items()}
