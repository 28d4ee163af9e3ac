"""scikit-learn models in skops format, loaded only when every type inside is trusted.

skops trusts scikit-learn's own estimators and numpy/scipy basics by default; ``EXTRA_TRUSTED``
adds the scikit-learn internals that common models contain (found by dumping each and reading
``skops.io.get_untrusted_types``; tests/flavors/test_sklearn_coverage.py keeps the list honest):
data holders and scikit-learn's own functions, never a callable a file could point elsewhere. Anything else in a file (a ``FunctionTransformer``
pointing at ``os.system``, a user class) makes the load fail with ``UntrustedArtifact`` before a
single object is constructed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import skops.io as sio

from mloop.errors import UntrustedArtifact
from mloop.flavors.base import fitted_columns
from mloop.flavors.skops_bytes import canonical_skops

EXTRA_TRUSTED: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.link.Interval",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.IdentityLink",
        "sklearn._loss.link.MultinomialLogit",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss.loss.HalfMultinomialLoss",
        "sklearn._loss.loss.HalfSquaredError",
        # make_column_selector and the dtypes it selects by (dtype_include=object / np.number)
        "sklearn.compose._column_transformer.make_column_selector",
        "builtins.object",
        "numpy.number",
        "numpy.integer",
        "numpy.floating",
        "numpy.bool_",
        # calibrated classifiers, MLPs, stacking/voting, univariate selection, search CVs
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
        "sklearn.utils._bunch.Bunch",
        "sklearn.feature_selection._univariate_selection.f_classif",
        "sklearn.feature_selection._univariate_selection.f_regression",
        "sklearn.feature_selection._univariate_selection.chi2",
        "sklearn.feature_selection._mutual_info.mutual_info_classif",
        "sklearn.feature_selection._mutual_info.mutual_info_regression",
        "sklearn.metrics._scorer._PassthroughScorer",
        "sklearn.model_selection._split.KFold",
        "sklearn.model_selection._split.StratifiedKFold",
    }
)


def untrusted_types(data: bytes) -> list[str]:
    return _refused(sio.get_untrusted_types(data=data))


def _refused(found: list[str]) -> list[str]:
    return [name for name in found if name not in EXTRA_TRUSTED]


def storable(obj: object) -> bool:
    """Whether skops can write ``obj`` with only trusted types inside (a model, or the
    preprocessing steps of a booster pipeline)."""
    return _trusted_dump(obj) is not None


def _trusted_dump(obj: object) -> bytes | None:
    """skops' bytes of ``obj`` when every type inside is trusted, else None."""
    try:
        data = bytes(sio.dumps(obj))
        return None if untrusted_types(data) else data
    except Exception:  # skops cannot represent it: not ours to store this way
        return None


class SklearnFlavor:
    name = "sklearn"

    def accepts(self, model: object) -> bool:
        return self.save_if_accepted(model) is not None

    def save(self, model: object) -> bytes:
        return canonical_skops(bytes(sio.dumps(model)))

    def save_if_accepted(self, model: object) -> bytes | None:
        """``save(model)`` when ``accepts(model)``, else None, from one skops dump instead of
        two (the check writes the file anyway: 0.3 s of a 100-tree forest's 1.2 s record)."""
        module = type(model).__module__
        if not module.startswith("sklearn.") or not hasattr(model, "predict"):
            return None
        data = _trusted_dump(model)
        return None if data is None else canonical_skops(data)

    def load(self, data: bytes, *, expected_hash: str | None = None) -> object:
        try:
            found = sio.get_untrusted_types(data=data)  # read the file's types once
        except Exception as exc:
            raise UntrustedArtifact(
                f"This file is not a readable skops model ({type(exc).__name__}: {exc})."
            ) from exc
        refused = _refused(found)
        if refused:
            raise UntrustedArtifact(
                f"The model file contains types mloop does not trust ({', '.join(sorted(refused))}); "
                "it was not loaded. Re-train with standard scikit-learn components."
            )
        return sio.loads(data, trusted=found)

    def predict(self, model: Any, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict(_inputs(model, frame)))

    def predict_proba(self, model: Any, frame: pd.DataFrame) -> np.ndarray | None:
        if not hasattr(model, "predict_proba"):
            return None
        return np.asarray(model.predict_proba(_inputs(model, frame)))

    def predict_with_proba(
        self, model: Any, frame: pd.DataFrame
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Both answers from one pass through a Pipeline's transforms, which ``predict`` and
        ``predict_proba`` would each repeat (the one-hot encoding is most of a batch's cost);
        the final step sees exactly what ``Pipeline.predict`` would give it."""
        steps = getattr(model, "steps", None)
        final: Any = steps[-1][1] if steps else None
        if not steps or len(steps) < 2 or not hasattr(final, "predict_proba"):
            return self.predict(model, frame), self.predict_proba(model, frame)
        transformed = model[:-1].transform(_inputs(model, frame))
        return np.asarray(final.predict(transformed)), np.asarray(final.predict_proba(transformed))


def _inputs(model: Any, frame: pd.DataFrame) -> pd.DataFrame:
    # A ColumnTransformer picks its columns by name and needs none of the others it was fitted
    # with (such as the target); anything else reads the whole matrix, so every column must be there.
    first = model.steps[0][1] if hasattr(model, "steps") else model
    strict = not hasattr(first, "transformers")
    return fitted_columns(frame, getattr(model, "feature_names_in_", None), strict=strict)
