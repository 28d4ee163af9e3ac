"""Content-addressed blob storage behind one small protocol, chosen by URL."""

from mloop.artifacts.base import ArtifactStore, BlobProblem, BlobRef
from mloop.artifacts.local import LocalArtifactStore
from mloop.artifacts.memory import MemoryArtifactStore
from mloop.artifacts.registry import open_artifact_store

__all__ = [
    "ArtifactStore",
    "BlobProblem",
    "BlobRef",
    "LocalArtifactStore",
    "MemoryArtifactStore",
    "open_artifact_store",
]
