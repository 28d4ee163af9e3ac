"""The flavor protocol: how one kind of model is saved to bytes, loaded, and asked to predict.

A model is one blob, so its BLAKE3 hash is its identity. ``load`` receives the hash the registry
recorded (``expected_hash``); flavors that could execute code on load (pyfunc) refuse without it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd

from mloop.errors import InvalidInput


@runtime_checkable
class Flavor(Protocol):
    name: str

    def accepts(self, model: object) -> bool: ...

    def save(self, model: object) -> bytes: ...

    def load(self, data: bytes, *, expected_hash: str | None = None) -> object: ...

    def predict(self, model: object, frame: pd.DataFrame) -> np.ndarray: ...

    def predict_proba(self, model: object, frame: pd.DataFrame) -> np.ndarray | None: ...


def fitted_columns(
    frame: pd.DataFrame, names: Sequence[str] | None, *, strict: bool
) -> pd.DataFrame:
    """``frame`` cut to the columns a model was fitted on, in that order.

    A holdout or a request carries the target and other columns, often in another order; a bare
    estimator reads its matrix by position, so extra or reordered columns would give wrong answers
    or an error deep inside the library. Names the model keeps (``feature_names_in_``, a booster's
    feature names) decide. LightGBM stores names with whitespace turned into ``_``, so that
    spelling of a frame column matches too. When some name cannot be found, ``strict`` raises
    ``InvalidInput`` naming it; otherwise the frame goes on unchanged (a ``ColumnTransformer``
    fitted on more columns than it uses does not need them all).
    """
    if names is None or len(names) == 0:
        return frame
    wanted = [str(n) for n in names]
    if [str(c) for c in frame.columns] == wanted:
        return frame
    by_name: dict[str, Any] = {}
    for column in frame.columns:
        by_name.setdefault(re.sub(r"\s", "_", str(column)), column)
    for column in frame.columns:
        by_name[str(column)] = column
    missing = [n for n in wanted if n not in by_name]
    if not missing:
        picked = frame[[by_name[n] for n in wanted]]
        picked.columns = pd.Index(wanted)
        return picked
    unnamed = len(missing) == len(wanted) and len(frame.columns) == len(wanted)
    if not strict or unnamed:  # e.g. fitted on a numpy matrix: names like Column_0, by position
        return frame
    raise InvalidInput(
        f"Missing input column(s) {', '.join(missing)}; the model reads {', '.join(wanted)}."
    )
