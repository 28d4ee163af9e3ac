"""The target column as the labels a model learns and answers in, and the task it implies.

Training reads the target to fit; gates and holdout scoring read it again to re-score a registered
model on other rows. Both must read one spelling the same way, so the reading lives here, below
training and the registry.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from mloop.data.schema import as_booleans
from mloop.scoring.task import Task

__all__ = ["Task", "target_values"]


UNKNOWN_LABELS = frozenset({"?"})


def labelled(values: pd.Series) -> pd.Series:
    """Which rows have a label: a value, and not ``?``, which exports write for an unknown one
    (UCI's tables among them; " ?" with their spaces). Unlabelled rows are left out of training
    and scoring alike, so ``?`` never becomes a class a model can answer."""
    known = values.notna()
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype | pd.CategoricalDtype):
        text = values.astype(str).str.strip()
        known &= ~text.isin(UNKNOWN_LABELS)
    return known


def target_values(
    values: pd.Series, kind: str, task: str, classes: Sequence[Any] | None = None
) -> np.ndarray:
    """The target as the labels a model learns and answers in.

    A boolean column written as text (Yes/No, Y/N) keeps its own spelling, so the model answers
    "Yes", not True; every spelling of one truth value becomes one label: the model's (``classes``,
    when re-scoring a holdout spelled differently), else the file's most common one.
    """
    if task == Task.REGRESSION:
        return pd.to_numeric(values, errors="coerce").astype("float64").to_numpy()
    if kind == "boolean":  # "no" is False: astype(bool) would make every non-empty text True
        truth = as_booleans(values, what=f"target {values.name!r}").to_numpy(dtype=bool)
        spelled = _boolean_spelling(values, truth, classes)
        return truth if spelled is None else np.where(truth, spelled[1], spelled[0]).astype(object)
    if kind == "integer":
        return values.astype("int64").to_numpy()
    if kind == "float":  # --task classification of numbers: the classes are the numbers
        numbers = pd.to_numeric(values, errors="coerce").astype("float64")
        if numbers.notna().all() and bool((numbers == numbers.round()).all()):
            return numbers.astype("int64").to_numpy()  # 1.0 and 1 are one class, 1
        # scikit-learn refuses fractional labels ("continuous"): 1.5 is the class "1.5"
    return values.astype(str).to_numpy(dtype=object)


def _boolean_spelling(
    values: pd.Series, truth: np.ndarray, classes: Sequence[Any] | None
) -> tuple[str, str] | None:
    """(false label, true label) for a text boolean target; ``None`` to answer True/False."""
    if classes is not None:
        if len(classes) != 2 or not all(isinstance(c, str) for c in classes):
            return None
        read = as_booleans(pd.Series(list(classes)), what="the model's classes").to_numpy(
            dtype=bool
        )
        if read[0] == read[1]:
            return None
        return (classes[0], classes[1]) if read[1] else (classes[1], classes[0])
    if not all(isinstance(v, str) for v in values.dropna().head(1000)):
        return None  # real bools, or 0/1 numbers: they answer True/False
    text = values.astype(str).str.strip()
    sides = []
    for side, fallback in ((False, "False"), (True, "True")):
        seen = text[truth == side]
        sides.append(str(seen.mode().iloc[0]) if len(seen) else fallback)
    return sides[0], sides[1]
