"""Loading a registered model: the blob is hash-verified, then handed to its flavor.

Only bytes whose BLAKE3 hash equals the registry record reach a loader, and that hash is passed
on, so the pickle-based pyfunc flavor can refuse anything this workspace did not write.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mloop.artifacts import ArtifactStore
from mloop.errors import IntegrityError
from mloop.flavors import Flavor, get_flavor
from mloop.registry.versions import ModelVersion, resolve
from mloop.scoring.features import FeatureSpec, coerce
from mloop.store import Store


@dataclass
class LoadedModel:
    version: ModelVersion
    model: Any
    flavor: Flavor

    @property
    def features(self) -> FeatureSpec | None:
        return self.version.signature.features

    @property
    def target(self) -> str | None:
        return self.version.signature.target

    def prepare(self, frame: pd.DataFrame) -> pd.DataFrame:
        spec = self.features
        return frame if spec is None else coerce(frame, spec)

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return self.flavor.predict(self.model, self.prepare(frame))

    def __repr__(self) -> str:
        return (
            f"LoadedModel({self.version.ref}, {self.version.flavor}, {type(self.model).__name__})"
        )

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray | None:
        return self.flavor.predict_proba(self.model, self.prepare(frame))


def require_intact(artifacts: ArtifactStore, version: ModelVersion) -> None:
    """An alias never moves to a model that could not be loaded; raises ``IntegrityError``."""
    problem = artifacts.verify(version.artifact_hash)
    if problem is not None:
        raise IntegrityError(
            f"The artifact of {version.ref} fails its hash check ({problem.problem}, blake3:{version.artifact_hash[:16]}…); "
            "restore it from a backup of the artifact store or promote another version."
        )


def load_version(artifacts: ArtifactStore, version: ModelVersion) -> LoadedModel:
    """Raises ``IntegrityError`` for a missing or tampered blob, ``UntrustedArtifact`` for unsafe content."""
    require_intact(artifacts, version)
    data = artifacts.get_bytes(version.artifact_hash)
    flavor = get_flavor(version.flavor)
    return LoadedModel(version, flavor.load(data, expected_hash=version.artifact_hash), flavor)


def load_model(store: Store, artifacts: ArtifactStore, ref: str) -> LoadedModel:
    return load_version(artifacts, resolve(store, ref))
