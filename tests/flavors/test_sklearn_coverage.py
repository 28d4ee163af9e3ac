"""Common scikit-learn models are stored with skops, not as a pickle, and load back the same.

Each case is a model people actually put in production; if a scikit-learn release adds an internal
type to one of them, this fails with the type's name instead of silently falling back to pickle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn import (
    calibration,
    compose,
    ensemble,
    feature_selection,
    linear_model,
    model_selection,
    neural_network,
    pipeline,
    preprocessing,
)
from sklearn.datasets import make_classification

from mloop.flavors import flavor_for, get_flavor, save_model
from mloop.flavors.sklearn import untrusted_types


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    x, y = make_classification(n_samples=240, n_features=5, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(5)])
    frame["plan"] = pd.Series(np.where(x[:, 0] > 0, "gold", "basic"), dtype=object)
    return frame, y


def _selected(selector: Callable[[], Any]) -> Any:
    return pipeline.make_pipeline(
        compose.make_column_transformer(
            (preprocessing.StandardScaler(), compose.make_column_selector(dtype_include=np.number)),
            (preprocessing.OneHotEncoder(handle_unknown="ignore"), selector()),
        ),
        linear_model.LogisticRegression(max_iter=500),
    )


def _on_numbers(model: Any) -> Any:
    numeric = compose.make_column_transformer(("drop", ["plan"]), remainder="passthrough")
    return pipeline.make_pipeline(numeric, model)


MODELS: dict[str, Callable[[], Any]] = {
    "column selector by object dtype": lambda: _selected(
        lambda: compose.make_column_selector(dtype_include=object)
    ),
    "column selector excluding numbers": lambda: _selected(
        lambda: compose.make_column_selector(dtype_exclude=np.number)
    ),
    "column selector by name pattern": lambda: _selected(
        lambda: compose.make_column_selector(pattern="plan")
    ),
    "calibrated classifier": lambda: _on_numbers(
        calibration.CalibratedClassifierCV(linear_model.LogisticRegression(), cv=3)
    ),
    "multi-layer perceptron": lambda: _on_numbers(
        neural_network.MLPClassifier(hidden_layer_sizes=(8,), max_iter=300, random_state=0)
    ),
    "stacking": lambda: _on_numbers(
        ensemble.StackingClassifier([("lr", linear_model.LogisticRegression())])
    ),
    "select k best": lambda: _on_numbers(
        pipeline.make_pipeline(
            feature_selection.SelectKBest(k=3), linear_model.LogisticRegression()
        )
    ),
    "grid search": lambda: _on_numbers(
        model_selection.GridSearchCV(linear_model.LogisticRegression(), {"C": [0.1, 1.0]}, cv=3)
    ),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("case", sorted(MODELS))
def test_common_models_are_stored_with_skops(case: str) -> None:
    frame, y = _frame()
    model = MODELS[case]().fit(frame, y)
    flavor = flavor_for(model)
    data = flavor.save(model)
    assert flavor.name == "sklearn", untrusted_types(data)
    loaded = get_flavor("sklearn").load(data)
    np.testing.assert_allclose(loaded.predict_proba(frame), model.predict_proba(frame))


def test_the_same_model_saved_twice_is_the_same_bytes() -> None:
    """Content addressing and step caching need a reproduced model to reproduce its hash."""
    frame, y = _frame()
    first, second = (MODELS["stacking"]().fit(frame, y) for _ in range(2))
    flavor = get_flavor("sklearn")
    data = flavor.save(first)
    assert data == flavor.save(second)
    assert data != flavor.save(MODELS["grid search"]().fit(frame, y))
    np.testing.assert_allclose(flavor.load(data).predict_proba(frame), first.predict_proba(frame))


def test_save_model_writes_what_the_chosen_flavor_saves() -> None:
    """``mloop train`` checks and saves a model with one skops dump: the same flavor and bytes as
    choosing the flavor and then saving."""
    frame, y = _frame()
    model = MODELS["stacking"]().fit(frame, y)
    flavor, data = save_model(model)
    assert flavor is flavor_for(model) and flavor.name == "sklearn"
    assert data == flavor.save(model)


def test_k_nearest_neighbours_are_not_trusted_to_skops() -> None:
    """A crafted KDTree or distance metric restores unchecked index arrays and crashes the process
    at predict (skops refuses them by default): KNN is kept as a hash-guarded pickle instead."""
    from sklearn.neighbors import KNeighborsClassifier

    frame, y = _frame()
    model = _on_numbers(KNeighborsClassifier()).fit(frame, y)
    assert flavor_for(model).name == "pyfunc"
    assert save_model(model)[0].name == "pyfunc"


def test_shared_references_stay_shared_after_canonical_ids() -> None:
    """skops reads object id 0 as "not shared": renumbering starts at 1."""
    import skops.io as sio

    from mloop.flavors.skops_bytes import canonical_skops

    shared = np.arange(5.0)
    data = canonical_skops(bytes(sio.dumps({"a": shared, "b": shared})))
    loaded = sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    assert loaded["a"] is loaded["b"]
