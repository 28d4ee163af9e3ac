"""Blobs in a dict: the test double, held to the same conformance suite as the real stores."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

from mloop.artifacts.base import BlobProblem, BlobRef
from mloop.errors import IntegrityError, NotFound
from mloop.hashing import hash_bytes, strip


class MemoryArtifactStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self._spill = Path(tempfile.mkdtemp(prefix="mloop-mem-"))

    def put_file(self, path: Path) -> BlobRef:
        return self.put_bytes(Path(path).read_bytes())

    def put_bytes(self, data: bytes) -> BlobRef:
        digest = hash_bytes(data)
        self.blobs.setdefault(digest, bytes(data))
        return BlobRef(digest, len(data))

    def get_bytes(self, digest: str) -> bytes:
        digest = strip(digest)
        if digest not in self.blobs:
            raise NotFound(f"Blob blake3:{digest} is not in the in-memory artifact store.")
        data = self.blobs[digest]
        if hash_bytes(data) != digest:
            raise IntegrityError(f"Blob blake3:{digest} is corrupt; it will not be used.")
        return data

    def local_path(self, digest: str) -> Path:
        data = self.get_bytes(digest)
        path = self._spill / strip(digest)
        path.write_bytes(data)
        return path

    def exists(self, digest: str) -> bool:
        return strip(digest) in self.blobs

    def hashes(self) -> Iterator[str]:
        yield from sorted(self.blobs)

    def verify(self, digest: str) -> BlobProblem | None:
        try:
            self.get_bytes(digest)
        except NotFound:
            return BlobProblem(strip(digest), "missing")
        except IntegrityError:
            return BlobProblem(strip(digest), "hash mismatch")
        return None
