"""Gradient-boosting libraries in their own formats, wrapped so predict/predict_proba look like sklearn's.

The blob is a small JSON envelope: the library's native model text (LightGBM) or UBJSON bytes in
base64 (XGBoost), plus whether it is a classifier or regressor and its classes. A scikit-learn
``Pipeline`` ending in a booster (what ``mloop train --model lightgbm:LGBMClassifier`` builds) keeps
its preprocessing steps in the envelope as skops bytes, checked against the same trusted types as
the sklearn flavor. Loading never unpickles anything.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mloop.errors import InvalidInput, UntrustedArtifact
from mloop.flavors.base import fitted_columns


@dataclass
class NativeModel:
    """A loaded booster plus what sklearn's wrapper knew: the task and the class labels, and the
    preprocessing steps it was trained behind, if any."""

    library: str
    booster: Any
    kind: str
    classes: list[Any] = field(default_factory=list)
    preprocess: Any = None

    @property
    def columns(self) -> list[str] | None:
        names = (
            self.booster.feature_name()
            if self.library == "lightgbm"
            else self.booster.feature_names
        )
        return None if names is None else [str(n) for n in names]

    def _raw(self, frame: pd.DataFrame) -> np.ndarray:
        method = (
            self.booster.predict if self.library == "lightgbm" else self.booster.inplace_predict
        )
        if self.preprocess is not None:
            features = self.preprocess.transform(frame)
            if isinstance(features, pd.DataFrame):
                features = fitted_columns(features, self.columns, strict=True)
        else:  # boosters read columns by position: give them exactly their own, in their order
            features = fitted_columns(frame, self.columns, strict=True)
        result: np.ndarray = np.asarray(method(features))
        return result

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        raw = self._raw(frame)
        return np.column_stack([1 - raw, raw]) if raw.ndim == 1 else raw

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        if self.kind != "classifier":
            return self._raw(frame)
        labels: np.ndarray = np.asarray(self.classes)[self.predict_proba(frame).argmax(axis=1)]
        return labels


def _require(module: str, extra: str) -> Any:
    try:
        return __import__(module)
    except ImportError as exc:
        raise InvalidInput(
            f"This model needs {module}; install it with `pip install 'mloop[{extra}]'`."
        ) from exc


def _envelope(
    library: str, kind: str, classes: Any, model: str, preprocess: str | None = None
) -> bytes:
    plain = [
        c.item() if hasattr(c, "item") else c for c in (classes if classes is not None else [])
    ]
    envelope = {"format": f"mloop-{library}/1", "kind": kind, "classes": plain, "model": model}
    if preprocess is not None:
        envelope["preprocess"] = preprocess
    return json.dumps(envelope).encode()


def _open(data: bytes, library: str) -> dict[str, Any]:
    try:
        envelope = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UntrustedArtifact(f"This is not an mloop {library} model file.") from exc
    if not isinstance(envelope, dict) or envelope.get("format") != f"mloop-{library}/1":
        raise UntrustedArtifact(f"This is not an mloop {library} model file.")
    return envelope


def _split_pipeline(model: Any, library: str) -> tuple[Any, Any] | None:
    """(preprocessing Pipeline, booster) for a Pipeline ending in a ``library`` estimator."""
    steps = getattr(model, "steps", None)
    if not steps or len(steps) < 2 or not type(model).__module__.startswith("sklearn."):
        return None
    final = steps[-1][1]
    if not type(final).__module__.startswith(library):
        return None
    return model[:-1], final


class _NativeFlavor:
    name = ""

    def _estimator_envelope(self, model: Any, preprocess: str | None) -> bytes:
        raise NotImplementedError

    def _load_booster(self, envelope: dict[str, Any]) -> Any:
        raise NotImplementedError

    def accepts(self, model: object) -> bool:
        if type(model).__module__.startswith(self.name):
            return True
        parts = _split_pipeline(model, self.name)
        if parts is None:
            return False
        from mloop.flavors.sklearn import storable

        return storable(parts[0])

    def save(self, model: Any) -> bytes:
        parts = _split_pipeline(model, self.name)
        if parts is None:
            return self._estimator_envelope(model, None)
        preprocess, final = parts
        from mloop.flavors.sklearn import SklearnFlavor

        packed = base64.b64encode(SklearnFlavor().save(preprocess)).decode()
        return self._estimator_envelope(final, packed)

    def load(self, data: bytes, *, expected_hash: str | None = None) -> object:
        _require(self.name, self.name)
        envelope = _open(data, self.name)
        preprocess = None
        if envelope.get("preprocess") is not None:
            from mloop.flavors.sklearn import SklearnFlavor

            try:
                packed = base64.b64decode(envelope["preprocess"], validate=True)
            except (ValueError, TypeError) as exc:
                raise UntrustedArtifact(f"This is not an mloop {self.name} model file.") from exc
            preprocess = SklearnFlavor().load(packed)
        return NativeModel(
            self.name,
            self._load_booster(envelope),
            envelope["kind"],
            envelope["classes"],
            preprocess,
        )

    def predict(self, model: Any, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict(frame))

    def predict_proba(self, model: Any, frame: pd.DataFrame) -> np.ndarray | None:
        if isinstance(model, NativeModel) and model.kind != "classifier":
            return None
        method = getattr(model, "predict_proba", None)
        return None if method is None else np.asarray(method(frame))


class LightGBMFlavor(_NativeFlavor):
    name = "lightgbm"

    def _estimator_envelope(self, model: Any, preprocess: str | None) -> bytes:
        lgb = _require("lightgbm", "lightgbm")
        if isinstance(model, lgb.Booster):
            return _envelope("lightgbm", "booster", None, model.model_to_string(), preprocess)
        kind = "classifier" if isinstance(model, lgb.LGBMClassifier) else "regressor"
        text = model.booster_.model_to_string()
        return _envelope("lightgbm", kind, getattr(model, "classes_", None), text, preprocess)

    def _load_booster(self, envelope: dict[str, Any]) -> Any:
        lgb = _require("lightgbm", "lightgbm")
        return lgb.Booster(model_str=envelope["model"])


class XGBoostFlavor(_NativeFlavor):
    name = "xgboost"

    def _estimator_envelope(self, model: Any, preprocess: str | None) -> bytes:
        xgb = _require("xgboost", "xgboost")
        if isinstance(model, xgb.Booster):
            booster, kind, classes = model, "booster", None
        else:
            booster = model.get_booster()
            kind = "classifier" if isinstance(model, xgb.XGBClassifier) else "regressor"
            # XGBoost learns codes 0..k-1; mloop train leaves the labels they stand for here.
            classes = getattr(model, "mloop_classes_", None)
            if classes is None:
                classes = getattr(model, "classes_", None)
        raw = base64.b64encode(bytes(booster.save_raw(raw_format="ubj"))).decode()
        return _envelope("xgboost", kind, classes, raw, preprocess)

    def _load_booster(self, envelope: dict[str, Any]) -> Any:
        xgb = _require("xgboost", "xgboost")
        booster = xgb.Booster()
        booster.load_model(bytearray(base64.b64decode(envelope["model"])))
        return booster
