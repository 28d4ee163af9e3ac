"""The artifact store interface: blobs addressed by their BLAKE3 hash, verified on every read.

A blob has no name and no path a user chose, so there is nothing to traverse. Names (``model.skops``,
``plots/roc.png``) live in the metadata store and point at hashes. An S3-compatible store implements
this same protocol later; ``tests/artifacts/test_conformance.py`` runs every implementation through
the same cases.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class BlobRef:
    hash: str
    size: int

    @property
    def uri(self) -> str:
        return f"blake3:{self.hash}"


@dataclass(frozen=True)
class BlobProblem:
    hash: str
    problem: str


@runtime_checkable
class ArtifactStore(Protocol):
    def put_file(self, path: Path) -> BlobRef:
        """Copy a file in; the same bytes twice are stored once."""
        ...

    def put_bytes(self, data: bytes) -> BlobRef: ...

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes; raises ``NotFound`` or ``IntegrityError`` (tampered, truncated)."""
        ...

    def local_path(self, digest: str) -> Path:
        """A verified local file with the blob's bytes, for readers that need a path."""
        ...

    def exists(self, digest: str) -> bool: ...

    def hashes(self) -> Iterator[str]: ...

    def verify(self, digest: str) -> BlobProblem | None: ...
