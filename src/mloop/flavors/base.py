"""The flavor protocol: how one kind of model is saved to bytes, loaded, and asked to predict.

A model is one blob, so its BLAKE3 hash is its identity. ``load`` receives the hash the registry
recorded (``expected_hash``); flavors that could execute code on load (pyfunc) refuse without it.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd


@runtime_checkable
class Flavor(Protocol):
    name: str

    def accepts(self, model: object) -> bool: ...

    def save(self, model: object) -> bytes: ...

    def load(self, data: bytes, *, expected_hash: str | None = None) -> object: ...

    def predict(self, model: object, frame: pd.DataFrame) -> np.ndarray: ...

    def predict_proba(self, model: object, frame: pd.DataFrame) -> np.ndarray | None: ...
