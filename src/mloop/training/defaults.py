"""Parameters the built-in models start from, in one place: `mloop train` uses them, its
``--help`` shows them, and the run records them beside any ``--param`` that overrides one.

Chosen for tables from a few thousand rows to millions on a small machine:

- ``random_forest``: 100 trees (scikit-learn's default; 200 doubled the time and the file for a
  small gain); every core while fitting (``n_jobs=-1``); and a leaf holds at least 0.01% of the
  training rows (``min_samples_leaf=0.0001``), which changes nothing below 10,000 rows and stops
  the trees growing with the data above it: 50 unbounded trees on 1M rows took 328 s and 954 MB.
- ``logistic``: enough iterations for scaled features to converge.

Some parameters only help fitting: ``n_jobs`` goes back to 1 once the model is fitted, because a
single-row prediction through a pool of workers pays their start-up every call (single-row p99
went from 68 to 143 ms with the pool left on).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

DEFAULTS: dict[str, dict[str, Any]] = {
    "logistic": {"max_iter": 1000},
    "ridge": {},
    "random_forest": {"n_estimators": 100, "min_samples_leaf": 0.0001, "n_jobs": -1},
    "gradient_boosting": {},
}
# parameter -> the value it takes after fitting, when the user did not choose it
AFTER_FIT: dict[str, dict[str, Any]] = {"random_forest": {"n_jobs": 1}}


def defaults_for(model: str) -> dict[str, Any]:
    """The built-in ``model``'s starting parameters (empty for ``MODULE:CALLABLE`` models)."""
    return dict(DEFAULTS.get(model, {}))


def for_prediction(model: str, estimator: Any, chosen: Mapping[str, Any]) -> None:
    """Set fit-only parameters the user did not choose back to their prediction values."""
    reset = {k: v for k, v in AFTER_FIT.get(model, {}).items() if k not in chosen}
    if reset:
        estimator.set_params(**reset)


def describe() -> str:
    """One line per model for ``--help``."""
    parts = []
    for model, params in DEFAULTS.items():
        shown = ", ".join(
            f"{k}={v}" + (" while fitting" if k in AFTER_FIT.get(model, {}) else "")
            for k, v in params.items()
        )
        parts.append(f"{model}: {shown or 'scikit-learn defaults'}")
    return "; ".join(parts)
