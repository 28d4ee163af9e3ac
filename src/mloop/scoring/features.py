"""From a dataset schema to model features, the same way at training and at serving time.

``feature_spec`` decides which columns feed the model and how (numeric or categorical); ``coerce``
turns any frame (a training table, a batch of requests) into exactly those columns with stable
dtypes: numbers as float64 with NaN for missing (and for ±inf), categories as Python strings with
``MISSING`` for missing (a category of its own: missingness is often informative, and ONNX string
tensors have no NaN).
The spec is stored in the model's signature, so serving coerces requests with the same function.
Datetimes and text whose values rarely repeat (ids, names, free text) are left out: they memorise,
not generalise. Text of many values that do repeat (a city, a postcode, a product code) is a
category too, encoded by its most frequent values (``frequent``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from mloop.data.refs import did_you_mean
from mloop.data.schema import Schema, category_text, read_truth
from mloop.errors import InvalidInput

NUMERIC_TYPES = {"integer", "float"}
CATEGORICAL_TYPES = {"categorical", "boolean"}
MISSING = "__missing__"
ROW_NUMBERS_MIN_ROWS = 20
# text repeating each value five times on average is a category, however many values it has
MAX_DISTINCT_SHARE = 0.2
_ID_NAME = re.compile(r"(?i:(^|[\W_])(id|uuid|guid|key))$|[a-z0-9](Id|ID|Key)$")


@dataclass(frozen=True)
class FeatureSpec:
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    dropped: tuple[str, ...]
    # Categorical columns the schema calls boolean: "yes", "Y", "true", 1 and True are one category,
    # so a request spelling a value differently from the training file is not an unseen category.
    boolean: tuple[str, ...] = ()
    # Categorical columns of more values than the schema lists (a "string" column whose values
    # repeat): the model encodes their most frequent values and one "other".
    frequent: tuple[str, ...] = ()

    @property
    def columns(self) -> tuple[str, ...]:
        return self.numeric + self.categorical

    def to_dict(self) -> dict[str, Any]:
        found = {k: list(v) for k, v in asdict(self).items()}
        if not self.frequent:  # as signatures were before it existed
            del found["frequent"]
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Sequence[str]]) -> FeatureSpec:
        return cls(
            numeric=tuple(data.get("numeric", ())),
            categorical=tuple(data.get("categorical", ())),
            dropped=tuple(data.get("dropped", ())),
            boolean=tuple(data.get("boolean", ())),
            frequent=tuple(data.get("frequent", ())),
        )


def _row_numbers(name: str, profile: Mapping[str, Any]) -> bool:
    """A unique integer column counting the rows: exactly 1..n or 0..n-1.

    Such a column (R's ``rownames``, pandas' ``Unnamed: 0``, an auto-increment id) says where a row
    sits in the file, and files are often sorted by the target: as a feature it leaks the answer.
    A run of years (1990..2020) is a real feature and does not start at 0 or 1; a toy table of a
    few rows is too small to tell.
    """
    stats = profile.get(name) or {}
    count, low, high = stats.get("count"), stats.get("min"), stats.get("max")
    if not count or count < ROW_NUMBERS_MIN_ROWS or stats.get("distinct") != count:
        return False
    return low in (0, 1) and high == low + count - 1


def named_id(name: str, profile: Mapping[str, Any]) -> bool:
    """A column named as an identifier (``id``, ``customer_id``, ``orderId``, ``user key``) whose
    every value is distinct: numbers handed out in order, which track when a row was made (and
    often the target) rather than anything about it. A unique ``income`` stays a feature."""
    stats = profile.get(name) or {}
    count = stats.get("count")
    if not count or count < ROW_NUMBERS_MIN_ROWS or stats.get("distinct") != count:
        return False
    return _ID_NAME.search(name) is not None


def repeated_text(name: str, profile: Mapping[str, Any]) -> bool:
    """A text column whose values repeat (a city, a postcode, a product code): a category of
    more values than a schema lists. Ids, names and free text, nearly all distinct, are not."""
    stats = profile.get(name) or {}
    count, distinct = stats.get("count"), stats.get("distinct")
    if not count or count < ROW_NUMBERS_MIN_ROWS or not distinct:
        return False
    return bool(distinct <= MAX_DISTINCT_SHARE * count)


def feature_spec(
    schema: Schema,
    *,
    target: str,
    profile: Mapping[str, Any] | None = None,
    drop: Sequence[str] = (),
) -> FeatureSpec:
    """Which columns feed the model. ``profile`` (the dataset's column profiles) lets row-number
    columns be left out; ``drop`` names columns the user leaves out. Raises ``InvalidInput`` for a
    ``drop`` that names no column, or when no usable feature is left."""
    names = {c.name for c in schema.columns}
    unknown = [c for c in drop if c not in names]
    if unknown:
        hint = did_you_mean(unknown[0], sorted(names))
        raise InvalidInput(
            f"--drop names no column of the dataset: {', '.join(unknown)}; "
            + (hint or "`mloop data show` lists the columns.")
        )
    numeric: list[str] = []
    categorical: list[str] = []
    dropped: list[str] = []
    boolean: list[str] = []
    frequent: list[str] = []
    for column in schema.columns:
        if column.name == target:
            continue
        if column.name in drop or (
            column.type == "integer"
            and (_row_numbers(column.name, profile or {}) or named_id(column.name, profile or {}))
        ):
            dropped.append(column.name)
        elif column.type in NUMERIC_TYPES:
            numeric.append(column.name)
        elif column.type in CATEGORICAL_TYPES:
            categorical.append(column.name)
            if column.type == "boolean":
                boolean.append(column.name)
        elif column.type == "string" and repeated_text(column.name, profile or {}):
            categorical.append(column.name)
            frequent.append(column.name)
        else:
            dropped.append(column.name)
    if not numeric and not categorical:
        raise InvalidInput(
            f"No usable feature columns besides target {target!r} (left out: {', '.join(dropped) or 'none'}); "
            "add numeric or categorical columns to the data."
        )
    return FeatureSpec(
        tuple(numeric), tuple(categorical), tuple(dropped), tuple(boolean), tuple(frequent)
    )


def _as_category_strings(series: pd.Series) -> np.ndarray:
    values = series.astype(object).to_numpy()
    missing = pd.isna(values)
    out = np.empty(len(values), dtype=object)
    out[missing] = MISSING
    present = ~missing
    kept = values[present]
    # bool True -> "True", 3.0 -> "3": one spelling per category whatever the file's types.
    # Text and truth values are spelled without a Python call per value (a million-row batch).
    kind = pd.api.types.infer_dtype(kept, skipna=False)
    if kind == "string":
        out[present] = kept
    elif kind == "boolean":
        out[present] = np.where(kept.astype(bool), "True", "False").astype(object)
    else:
        out[present] = [category_text(v) for v in kept]
    return out


def _as_truth_strings(series: pd.Series) -> np.ndarray:
    """ "True"/"False" for any spelling of a truth value; anything else stays itself (unseen)."""
    out = _as_category_strings(series)
    truth = read_truth(series)
    known = truth.notna().to_numpy()
    out[known] = np.where(truth[known].to_numpy(dtype=bool), "True", "False")
    return out


def coerce(frame: pd.DataFrame, spec: FeatureSpec) -> pd.DataFrame:
    """The model's input frame; raises ``InvalidInput`` naming any missing feature column."""
    missing = [c for c in spec.columns if c not in frame.columns]
    if missing:
        raise InvalidInput(
            f"Missing feature column(s) {', '.join(missing)}; the model needs {', '.join(spec.columns)}."
        )
    data: dict[str, Any] = {}
    for name in spec.numeric:
        column = frame[name]
        if column.dtype == bool or str(column.dtype) == "boolean":
            column = column.astype("Float64")
        values = pd.to_numeric(column, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
        # ±inf (a ratio over zero) is missing too: the imputer fills it, where scikit-learn refuses.
        data[name] = np.where(np.isinf(values), np.nan, values)
    for name in spec.categorical:
        spelled = _as_truth_strings if name in spec.boolean else _as_category_strings
        # object, not pandas' Arrow-backed str: the encoders read Python strings, and the
        # round trip through Arrow cost more than the rest of coerce on a big batch
        data[name] = pd.Series(spelled(frame[name]), index=frame.index, dtype=object)
    return pd.DataFrame(data, index=frame.index)
