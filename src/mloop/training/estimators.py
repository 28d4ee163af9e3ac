"""The model zoo behind ``mloop train --model``: built-in names or ``MODULE:CALLABLE``.

Every model sits behind the same preprocessing (median imputation + scaling for numbers, one-hot
for categories with "missing" as a category and unseen categories ignored; for text of many
repeated values, one-hot of its most frequent values), so the artifact is one
scikit-learn ``Pipeline`` that carries its own feature code.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from sklearn.utils._param_validation import InvalidParameterError

from mloop.callables import load_callable
from mloop.errors import InvalidInput
from mloop.scoring.features import FeatureSpec
from mloop.scoring.targets import Task
from mloop.training.defaults import defaults_for

# a value of a many-valued category gets its own column when seen this often in training, for at
# most this many columns
MIN_VALUE_ROWS = 5
MAX_ENCODED_VALUES = 256
BUILTIN: dict[str, dict[Task, type[Any]]] = {
    "logistic": {Task.CLASSIFICATION: LogisticRegression},
    "ridge": {Task.REGRESSION: Ridge},
    "random_forest": {
        Task.CLASSIFICATION: RandomForestClassifier,
        Task.REGRESSION: RandomForestRegressor,
    },
    "gradient_boosting": {
        Task.CLASSIFICATION: GradientBoostingClassifier,
        Task.REGRESSION: GradientBoostingRegressor,
    },
}

# What `mloop train` fits when --model is not given: a linear model, quick and a fair baseline.
DEFAULT_MODEL: dict[Task, str] = {Task.CLASSIFICATION: "logistic", Task.REGRESSION: "ridge"}


def models_for(task: Task) -> list[str]:
    """The built-in models that fit ``task``, in the order --help lists them."""
    return [name for name, tasks in BUILTIN.items() if task in tasks]


def estimator_name(estimator: Any) -> str:
    """The estimator's real class, module-qualified: what lineage records as the model."""
    kind = type(estimator)
    return f"{kind.__module__}.{kind.__qualname__}"


def make_estimator(
    model: str, task: Task, params: Mapping[str, Any], *, seed: int, root: Path
) -> Any:
    """Build the final estimator; raises ``InvalidInput`` for unknown models or bad params."""
    if model in BUILTIN:
        if task not in BUILTIN[model]:
            raise InvalidInput(
                f"--model {model} does not fit a {task} target; use one of "
                f"{', '.join(models_for(task))}."
            )
        factory: Any = BUILTIN[model][task]
        kwargs = {**defaults_for(model), **params}
    else:
        factory = load_callable(model, root=root, what=f"--model {model}")
        kwargs = dict(params)
    try:
        accepted: Mapping[str, Any] = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        accepted = {}
    if "random_state" in accepted and "random_state" not in kwargs:
        kwargs["random_state"] = seed
    try:
        estimator = factory(**kwargs)
    except TypeError as exc:
        raise InvalidInput(f"--param for {model}: {exc}; check the parameter names.") from exc
    except Exception as exc:  # the user's own factory code failed: their input, not our bug
        raise InvalidInput(
            f"--model {model} raised {type(exc).__name__}: {exc}; fix it or its --param values."
        ) from exc
    if not hasattr(estimator, "fit") or not hasattr(estimator, "predict"):
        raise InvalidInput(
            f"--model {model} returned {type(estimator).__name__}, which has no fit/predict."
        )
    # The Pipeline, clone() and skops need the estimator protocol (get_params, tags), not just
    # fit/predict; without it the failure comes late, from deep inside scikit-learn.
    if not hasattr(estimator, "get_params") or not hasattr(estimator, "__sklearn_tags__"):
        raise InvalidInput(
            f"--model {model} returned {type(estimator).__name__}, which is not a scikit-learn "
            "estimator; subclass sklearn.base.BaseEstimator (with ClassifierMixin or RegressorMixin)."
        )
    _check_params(model, estimator)
    return estimator


def _check_params(model: str, estimator: Any) -> None:
    """scikit-learn's own parameter check, before training rather than after minutes of it."""
    validate = getattr(estimator, "_validate_params", None)
    if validate is None or not hasattr(estimator, "_parameter_constraints"):
        return  # a custom estimator without scikit-learn's declared constraints
    try:
        validate()
    except InvalidParameterError as exc:
        raise InvalidInput(
            f"--param for {model}: {exc} (--param values are read as Python literals: "
            "C=0.5, C=inf, max_depth=None, class_weight='balanced'; anything else is text)."
        ) from exc


def frequent_values(values: pd.Series) -> list[Any]:
    """The values seen at least ``MIN_VALUE_ROWS`` times, the ``MAX_ENCODED_VALUES`` most
    frequent of them, sorted."""
    counts = values.value_counts(sort=True)
    kept = counts[counts >= MIN_VALUE_ROWS].head(MAX_ENCODED_VALUES)
    return sorted(kept.index.tolist())


def build_pipeline(spec: FeatureSpec, estimator: Any, rows: pd.DataFrame | None = None) -> Pipeline:
    """The features, then the model. ``rows`` (the coerced training rows) name the values of
    the many-valued categories (``spec.frequent``)."""
    transformers: list[tuple[str, Any, list[str]]] = []
    if spec.numeric:
        numeric = Pipeline(
            [("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]
        )
        transformers.append(("numeric", numeric, list(spec.numeric)))
    listed = [name for name in spec.categorical if name not in spec.frequent]
    if listed:
        onehot = OneHotEncoder(handle_unknown="ignore", sparse_output=False)
        transformers.append(("categorical", onehot, listed))
    if spec.frequent:
        if rows is None:
            raise ValueError("a spec with many-valued categories needs the training rows")
        # each value seen often enough, up to a cap: a postcode's thousands of values would be
        # thousands of dense columns. The rest, and values never seen, are all zeros, which a
        # model reads as "none of these" (and ONNX exports, unlike scikit-learn's own
        # "infrequent" category)
        top = OneHotEncoder(
            categories=[frequent_values(rows[name]) for name in spec.frequent],
            handle_unknown="ignore",
            sparse_output=False,
        )
        transformers.append(("frequent", top, list(spec.frequent)))
    features = ColumnTransformer(transformers, remainder="drop")
    return Pipeline([("features", features), ("model", estimator)])
