"""Any Python object with ``predict``, pickled: the escape hatch, guarded by the registry's hash.

Unpickling runs code, so a pyfunc blob is loaded only when the caller passes the BLAKE3 hash the
registry recorded when this workspace wrote it, and the bytes hash to exactly that. A file from
anywhere else is refused, never unpickled.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pandas as pd

from mloop.errors import InvalidInput, UntrustedArtifact
from mloop.hashing import hash_bytes, strip


class PyfuncFlavor:
    name = "pyfunc"

    def accepts(self, model: object) -> bool:
        return callable(getattr(model, "predict", None))

    def save(self, model: object) -> bytes:
        return pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)

    def load(self, data: bytes, *, expected_hash: str | None = None) -> object:
        if expected_hash is None:
            raise UntrustedArtifact(
                "A pyfunc (pickle) model is loaded only through the registry, which vouches for its hash; "
                "use mloop.load_model('NAME@N')."
            )
        if hash_bytes(data) != strip(expected_hash):
            raise UntrustedArtifact(
                "This pyfunc model's bytes do not match the hash the registry recorded; it was not loaded."
            )
        try:
            return pickle.loads(data)
        except (AttributeError, ImportError) as exc:  # the class lived in a script's __main__
            raise InvalidInput(
                f"This pyfunc model needs code that is not importable here ({exc}); define its class "
                "in a module on the Python path (not in the training script) and log it again."
            ) from exc

    def predict(self, model: Any, frame: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict(frame))

    def predict_proba(self, model: Any, frame: pd.DataFrame) -> np.ndarray | None:
        method = getattr(model, "predict_proba", None)
        return None if method is None else np.asarray(method(frame))
