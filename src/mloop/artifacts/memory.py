"""Blobs in a dict: the test double, held to the same conformance suite as the real stores.

``memory://NAME`` (see ``mloop.artifacts.registry``) names one store per process, so two workspaces
opened on the same URL in one test see the same blobs; it holds nothing once the process ends.
"""

from __future__ import annotations

import io
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import blake3

from mloop.artifacts.base import (
    CHUNK,
    BlobProblem,
    BlobRef,
    Readable,
    iter_verified,
    verifying_reader,
)
from mloop.errors import IntegrityError, NotFound
from mloop.hashing import hash_bytes, strip


class MemoryArtifactStore:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self._written: dict[str, float] = {}  # time.time() of the last put, for the age guard
        self._lock = threading.Lock()
        self._spill: Path | None = None

    def _publish(self, digest: str, data: bytes) -> BlobRef:
        with self._lock:
            self.blobs.setdefault(digest, data)
            self._written[digest] = time.time()
        return BlobRef(digest, len(data))

    def put_stream(self, readable: Readable) -> BlobRef:
        hasher = blake3.blake3()
        buffer = io.BytesIO()
        while chunk := readable.read(CHUNK):
            hasher.update(chunk)
            buffer.write(chunk)
        return self._publish(hasher.hexdigest(), buffer.getvalue())

    def put_file(self, path: Path) -> BlobRef:
        with Path(path).open("rb") as source:
            return self.put_stream(source)

    def put_bytes(self, data: bytes) -> BlobRef:
        return self._publish(hash_bytes(data), bytes(data))

    def _stored(self, digest: str) -> bytes:
        digest = strip(digest)
        try:
            return self.blobs[digest]
        except KeyError:
            raise NotFound(
                f"Blob blake3:{digest} is not in the in-memory artifact store."
            ) from None

    def _tampered(self, digest: str, actual: str) -> IntegrityError:
        return IntegrityError(
            f"Blob blake3:{strip(digest)} is corrupt (its bytes hash to blake3:{actual[:16]}…); "
            "it will not be used."
        )

    def open_blob(self, digest: str) -> BinaryIO:
        data = self._stored(digest)
        return verifying_reader(
            io.BytesIO(data), strip(digest), lambda actual: self._tampered(digest, actual)
        )

    def iter_blob(self, digest: str) -> Iterator[bytes]:
        return iter_verified(self.open_blob(digest))

    def get_bytes(self, digest: str) -> bytes:
        data = self._stored(digest)
        actual = hash_bytes(data)
        if actual != strip(digest):
            raise self._tampered(digest, actual)
        return data

    def local_path(self, digest: str) -> Path:
        data = self.get_bytes(digest)
        if self._spill is None:
            self._spill = Path(tempfile.mkdtemp(prefix="mloop-mem-"))
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

    def delete_unreferenced(self, keep: set[str], *, older_than_s: float) -> list[str]:
        cutoff = time.time() - older_than_s
        keep = {strip(digest) for digest in keep}
        with self._lock:
            doomed = sorted(
                digest
                for digest, written in self._written.items()
                if digest not in keep and written < cutoff
            )
            for digest in doomed:
                del self.blobs[digest], self._written[digest]
        return doomed
