"""Content-addressed blob storage behind one small protocol."""

from mloop.artifacts.base import ArtifactStore, BlobProblem, BlobRef
from mloop.artifacts.local import LocalArtifactStore
from mloop.artifacts.memory import MemoryArtifactStore

__all__ = ["ArtifactStore", "BlobProblem", "BlobRef", "LocalArtifactStore", "MemoryArtifactStore"]
