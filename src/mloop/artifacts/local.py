"""Blobs in a local folder: ``blobs/ab/cdef…`` by hash, written temp → fsync → rename.

A writer killed at any point leaves at most a file in ``tmp/``, never a visible blob; rename is
atomic on POSIX, so a reader sees the whole blob or none, and two writers of the same bytes both
end with the one intact blob. ``cleanup_tmp`` removes what killed writers left behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
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
    checked_digest,
    iter_verified,
    missing_blob,
    tampered_blob,
    verifying_reader,
)
from mloop.errors import IntegrityError, NotFound
from mloop.hashing import hash_bytes, hash_file, strip


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# Up to this size a blob is read whole and hashed on one core: mapping it and waking the hashing
# threads cost more than they save, and ``verify_store`` already hashes several blobs at once.
WHOLE_READ_MAX = 4 << 20


def rehash(path: Path) -> str:
    """The BLAKE3 hash of a stored blob, at the speed the page cache and both cores allow.

    Large blobs are hashed straight from the page cache (``update_mmap``, no copy into Python)
    on all cores; see benchmarks/hashing.py. Raises ``FileNotFoundError`` when there is none.
    """
    with path.open("rb", buffering=0) as f:
        if os.fstat(f.fileno()).st_size <= WHOLE_READ_MAX:
            return blake3.blake3(f.readall()).hexdigest()
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update_mmap(path)
    return hasher.hexdigest()


def _renew(path: Path) -> bool:
    """Mark existing bytes as just written, so a collector's age guard spares a fresh reference.

    False when there is no such blob (never stored, or collected a moment ago): store it then.
    """
    try:
        os.utime(path)
    except FileNotFoundError:
        return False
    return True


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.tmp = self.root / "tmp"

    def _ensure(self) -> None:
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        digest = checked_digest(digest)
        return self.blobs / digest[:2] / digest[2:]

    def _publish(self, tmp_path: Path, digest: str) -> BlobRef:
        size = tmp_path.stat().st_size
        final = self._path(digest)
        if _renew(final):
            tmp_path.unlink()
            return BlobRef(digest, size)
        final.parent.mkdir(exist_ok=True)
        os.chmod(tmp_path, 0o444)
        os.replace(tmp_path, final)
        _fsync_dir(final.parent)
        return BlobRef(digest, size)

    def _temp_file(self) -> tuple[int, Path]:
        self._ensure()
        fd, name = tempfile.mkstemp(dir=self.tmp, prefix=f"{os.getpid()}-", suffix=".part")
        return fd, Path(name)

    def put_file(self, path: Path) -> BlobRef:
        source = Path(path)
        fd, tmp_path = self._temp_file()
        try:
            with os.fdopen(fd, "wb") as out, source.open("rb") as src:
                shutil.copyfileobj(src, out, length=8 << 20)
                out.flush()
                os.fsync(out.fileno())
            # Hash what was stored, not the source: the source may change while we copy.
            return self._publish(tmp_path, hash_file(tmp_path))
        except BaseException as exc:
            tmp_path.unlink(missing_ok=True)
            if isinstance(exc, OSError) and not exc.filename:
                raise self._located(exc) from exc
            raise

    def put_stream(self, readable: Readable) -> BlobRef:
        hasher = blake3.blake3()
        fd, tmp_path = self._temp_file()
        try:
            with os.fdopen(fd, "wb") as out:
                # Errors reading the source pass through as they are; only the store's own
                # writes are named after the store (see ``_located``).
                while chunk := readable.read(CHUNK):
                    hasher.update(chunk)
                    self._write(out, chunk)
                self._write(out, b"", sync=True)
            # The hash is of the very chunks written, so a source changing underneath cannot
            # leave a blob whose bytes differ from its name.
            return self._publish(tmp_path, hasher.hexdigest())
        except BaseException:
            tmp_path.unlink(missing_ok=True)
            raise

    def _write(self, out: BinaryIO, chunk: bytes, *, sync: bool = False) -> None:
        try:
            out.write(chunk)
            if sync:
                out.flush()
                os.fsync(out.fileno())
        except OSError as exc:
            if not exc.filename:
                raise self._located(exc) from exc
            raise

    def put_bytes(self, data: bytes) -> BlobRef:
        digest = hash_bytes(data)
        if _renew(self._path(digest)):
            return BlobRef(digest, len(data))
        fd, tmp_path = self._temp_file()
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            return self._publish(tmp_path, digest)
        except BaseException as exc:
            tmp_path.unlink(missing_ok=True)
            if isinstance(exc, OSError) and not exc.filename:
                raise self._located(exc) from exc
            raise

    def _located(self, exc: OSError) -> OSError:
        """A full disk raises OSError without a file name; name the store so the message can."""
        return OSError(exc.errno, exc.strerror or str(exc), str(self.root))

    def exists(self, digest: str) -> bool:
        return self._path(digest).exists()

    def _missing(self, digest: str) -> NotFound:
        return missing_blob(digest, str(self.root), "path")

    def _tampered(self, digest: str, actual: str) -> IntegrityError:
        return tampered_blob(digest, actual)

    def open_blob(self, digest: str) -> BinaryIO:
        path = self._path(digest)
        try:
            raw = path.open("rb", buffering=0)
        except FileNotFoundError:
            raise self._missing(digest) from None
        return verifying_reader(raw, strip(digest), lambda actual: self._tampered(digest, actual))

    def iter_blob(self, digest: str) -> Iterator[bytes]:
        return iter_verified(self.open_blob(digest))

    def get_bytes(self, digest: str) -> bytes:
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise self._missing(digest) from None
        actual = hash_bytes(data)
        if actual != strip(digest):
            raise self._tampered(digest, actual)
        return data

    def local_path(self, digest: str) -> Path:
        path = self._path(digest)
        try:
            actual = rehash(path)
        except FileNotFoundError:
            raise self._missing(digest) from None
        if actual != strip(digest):
            raise self._tampered(digest, actual)
        return path

    def hashes(self) -> Iterator[str]:
        if not self.blobs.exists():
            return
        for prefix in sorted(self.blobs.iterdir()):
            for blob in sorted(prefix.iterdir()):
                yield prefix.name + blob.name

    def verify(self, digest: str) -> BlobProblem | None:
        try:
            actual = rehash(self._path(digest))
        except FileNotFoundError:
            return BlobProblem(strip(digest), "missing")
        return None if actual == strip(digest) else BlobProblem(strip(digest), "hash mismatch")

    def delete_unreferenced(self, keep: set[str], *, older_than_s: float) -> list[str]:
        cutoff = time.time() - older_than_s
        keep = {strip(digest) for digest in keep}
        deleted = []
        for digest in self.hashes():
            path = self._path(digest)
            if digest in keep:
                continue
            try:
                if path.stat().st_mtime >= cutoff:
                    continue
                path.unlink()
            except FileNotFoundError:  # another collector got there first
                continue
            deleted.append(digest)
        return deleted

    def cleanup_tmp(self, *, older_than_s: float = 3600.0) -> int:
        """Delete temp files a killed writer left; returns how many."""
        if not self.tmp.exists():
            return 0
        removed = 0
        cutoff = time.time() - older_than_s
        for part in self.tmp.iterdir():
            if part.stat().st_mtime < cutoff:
                part.unlink(missing_ok=True)
                removed += 1
        return removed
