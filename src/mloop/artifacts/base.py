"""The artifact store interface: blobs addressed by their BLAKE3 hash, verified on every read.

A blob has no name and no path a user chose, so there is nothing to traverse. Names (``model.skops``,
``plots/roc.png``) live in the metadata store and point at hashes. The interface streams both ways
(a model or a snapshot never has to fit in memory) so an object store (S3) is one more file that
implements it; ``mloop.artifacts.registry`` picks the implementation from a URL and
``tests/conformance/test_artifact_stores.py`` runs every implementation through the same cases.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol, runtime_checkable

import blake3

from mloop.errors import IntegrityError, InvalidInput, NotFound
from mloop.hashing import strip

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

# Streaming chunk: big enough that per-chunk Python overhead is noise, small enough to bound memory.
CHUNK = 1 << 20


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


class Readable(Protocol):
    """What ``put_stream`` reads from: an open binary file, a socket file, a pipe, an HTTP body."""

    def read(self, size: int = -1, /) -> bytes: ...


@runtime_checkable
class ArtifactStore(Protocol):
    def put_stream(self, readable: Readable) -> BlobRef:
        """Store what ``readable`` yields, hashed while it streams in chunks.

        Nothing is visible under the hash until every byte is stored: a writer that fails or is
        killed part way leaves no blob. The same bytes twice are stored once.
        """
        ...

    def put_file(self, path: Path) -> BlobRef:
        """Copy a file in; the same bytes twice are stored once."""
        ...

    def put_bytes(self, data: bytes) -> BlobRef: ...

    def open_blob(self, digest: str) -> BinaryIO:
        """A file-like reader of the blob, hashed as it is read.

        Reading to the end raises ``IntegrityError`` instead of the end when the bytes do not hash
        to ``digest`` (tampered, truncated); a reader that stops early has checked nothing.
        Raises ``NotFound`` at once when there is no such blob.
        """
        ...

    def iter_blob(self, digest: str) -> Iterator[bytes]:
        """The blob in chunks; the last chunk comes only after the whole blob hashed correctly."""
        ...

    def get_bytes(self, digest: str) -> bytes:
        """The blob's bytes; raises ``NotFound`` or ``IntegrityError`` (tampered, truncated)."""
        ...

    def local_path(self, digest: str) -> Path:
        """A verified local file with the blob's bytes, for readers that need a path."""
        ...

    def exists(self, digest: str) -> bool: ...

    def hashes(self) -> Iterator[str]:
        """Every stored blob's hash, sorted."""
        ...

    def verify(self, digest: str) -> BlobProblem | None: ...

    def delete_unreferenced(self, keep: set[str], *, older_than_s: float) -> list[str]:
        """Delete blobs not in ``keep`` last written more than ``older_than_s`` ago; their hashes.

        The age guard keeps a blob whose writer has stored it but not yet committed the metadata
        row that names it (or that deduplicated onto it: storing existing bytes renews the age).
        """
        ...


_HEX = set("0123456789abcdef")


def checked_digest(digest: str) -> str:
    """``digest`` without its ``blake3:`` prefix; ``InvalidInput`` unless 64 hex characters
    (a digest becomes a path or a key, so nothing else may reach one)."""
    digest = strip(digest)
    if len(digest) != 64 or not set(digest) <= _HEX:
        raise InvalidInput(f"{digest!r} is not a BLAKE3 hash (64 hex characters).")
    return digest


def missing_blob(digest: str, where: str, named_by: str) -> NotFound:
    """A blob not in a persistent store at ``where``, which ``named_by`` (path, URL) names."""
    return NotFound(
        f"Blob blake3:{strip(digest)} is not in the artifact store at {where}; it was deleted "
        f"or the store {named_by} is wrong (check MLOOP_ARTIFACTS)."
    )


def tampered_blob(digest: str, actual: str) -> IntegrityError:
    """A persistent store's blob whose bytes no longer hash to its name."""
    return IntegrityError(
        f"Blob blake3:{strip(digest)} is corrupt (its bytes hash to blake3:{actual[:16]}…); "
        "it will not be used: restore it from a backup or re-create it."
    )


# What a back end hands ``verifying_reader``: an unbuffered file (``open(p, 'rb', buffering=0)``),
# ``io.BytesIO``, or a response body.
RawSource = io.RawIOBase | io.BufferedIOBase


class VerifyingReader(io.RawIOBase):
    """Wraps a raw binary stream; hashes what passes through and checks the hash at the end."""

    def __init__(
        self, raw: RawSource, digest: str, refuse: Callable[[str], IntegrityError]
    ) -> None:
        super().__init__()
        self._raw = raw
        self._digest = digest
        self._refuse = refuse
        self._hasher = blake3.blake3()
        self._mismatch: str | None = None
        self._checked = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        view = memoryview(buffer).cast("B")
        count = self._raw.readinto(view) or 0
        if count:
            self._hasher.update(view[:count])
            return count
        if not self._checked:
            self._checked = True
            actual = self._hasher.hexdigest()
            if actual != self._digest:
                self._mismatch = actual
        if self._mismatch is not None:
            raise self._refuse(self._mismatch)
        return 0

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


def verifying_reader(
    raw: RawSource, digest: str, refuse: Callable[[str], IntegrityError]
) -> BinaryIO:
    """``raw`` as a buffered reader that raises ``refuse(actual_hash)`` at a mismatched end."""
    return io.BufferedReader(VerifyingReader(raw, digest, refuse), buffer_size=CHUNK)


def iter_verified(reader: BinaryIO) -> Iterator[bytes]:
    """Chunks of ``reader``, each yielded only once the next read succeeded.

    The check happens on the read that reaches the end, so holding one chunk back means a consumer
    never receives the tail of a blob that turned out to be damaged.
    """
    with reader:
        pending = reader.read(CHUNK)
        while pending:
            following = reader.read(CHUNK)
            yield pending
            pending = following
