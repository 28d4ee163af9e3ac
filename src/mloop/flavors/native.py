"""Gradient-boosting libraries in their own formats, wrapped so predict/predict_proba look like sklearn's.

The blob is a small JSON envelope: the library's native model text (LightGBM) or UBJSON bytes in
base64 (XGBoost), plus whether it is a classifier or regressor and its classes. Loading never
unpickles anything.
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
    """A loaded booster plus what sklearn's wrapper knew: the task and the class labels."""

    library: str
    booster: Any
    kind: str
    classes: list[Any] = field(default_factory=list)

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
        # Boosters read columns by position: give them exactly their own, in their order.
        result: np.ndarray = np.asarray(method(fitted_columns(frame, self.columns, strict=True)))
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


def _envelope(library: str, kind: str, classes: Any, model: str) -> bytes:
    plain = [
        c.item() if hasattr(c, "item") else c for c in (classes if classes is not None else [])
    ]
    return json.dumps(
        {"format": f"mloop-{library}/1", "kind": kind, "classes": plain, "model": model}
    ).encode()


def _open(data: bytes, library: str) -> dict[str, Any]:
    try:
        envelope = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UntrustedArtifact(f"This is not an mloop {library} model file.") from exc
    if not isinstance(envelope, dict) or envelope.get("format") != f"mloop-{library}/1":
        raise UntrustedArtifact(f"This is not an mloop {library} model file.")
    return envelope


class _NativeFlavor:
    name = ""

    def predict(self, model: Any, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict(frame))

    def predict_proba(self, model: Any, frame: pd.DataFrame) -> np.ndarray | None:
        if isinstance(model, NativeModel) and model.kind != "classifier":
            return None
        method = getattr(model, "predict_proba", None)
        return None if method is None else np.asarray(method(frame))


class LightGBMFlavor(_NativeFlavor):
    name = "lightgbm"

    def accepts(self, model: object) -> bool:
        return type(model).__module__.startswith("lightgbm")

    def save(self, model: Any) -> bytes:
        lgb = _require("lightgbm", "lightgbm")
        if isinstance(model, lgb.Booster):
            return _envelope("lightgbm", "booster", None, model.model_to_string())
        kind = "classifier" if isinstance(model, lgb.LGBMClassifier) else "regressor"
        return _envelope(
            "lightgbm", kind, getattr(model, "classes_", None), model.booster_.model_to_string()
        )

    def load(self, data: bytes, *, expected_hash: str | None = None) -> object:
        lgb = _require("lightgbm", "lightgbm")
        envelope = _open(data, "lightgbm")
        booster = lgb.Booster(model_str=envelope["model"])
        return NativeModel("lightgbm", booster, envelope["kind"], envelope["classes"])


class XGBoostFlavor(_NativeFlavor):
    name = "xgboost"

    def accepts(self, model: object) -> bool:
        return type(model).__module__.startswith("xgboost")

    def save(self, model: Any) -> bytes:
        xgb = _require("xgboost", "xgboost")
        if isinstance(model, xgb.Booster):
            booster, kind, classes = model, "booster", None
        else:
            booster = model.get_booster()
            kind = "classifier" if isinstance(model, xgb.XGBClassifier) else "regressor"
            classes = getattr(model, "classes_", None)
        raw = base64.b64encode(bytes(booster.save_raw(raw_format="ubj"))).decode()
        return _envelope("xgboost", kind, classes, raw)

    def load(self, data: bytes, *, expected_hash: str | None = None) -> object:
        xgb = _require("xgboost", "xgboost")
        envelope = _open(data, "xgboost")
        booster = xgb.Booster()
        booster.load_model(bytearray(base64.b64decode(envelope["model"])))
        return NativeModel("xgboost", booster, envelope["kind"], envelope["classes"])
