"""Content hashes: BLAKE3 everywhere, written as ``blake3:<hex>`` where users see them.

Files are hashed through ``update_mmap`` on all cores: the streamed path is bound by the copy into
Python (~2.7 GB/s here), the mmap path runs at page-cache read speed (see benchmarks/hashing.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import blake3

PREFIX = "blake3:"


def hash_bytes(data: bytes) -> str:
    return blake3.blake3(data, max_threads=blake3.blake3.AUTO).hexdigest()


def hash_file(path: str | os.PathLike[str]) -> str:
    path = Path(path)
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    if path.stat().st_size > 0:
        hasher.update_mmap(str(path))
    return hasher.hexdigest()


def hash_chunks(path: str | os.PathLike[str], *, chunk: int = 16 << 20) -> str:
    """``hash_file`` through one reused buffer (on all cores per chunk), for a file too big to
    map whole without the mapping counting in the process's memory."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    buffer = bytearray(chunk)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while read := handle.readinto(view):
            hasher.update(view[:read])
    return hasher.hexdigest()


def display(digest: str) -> str:
    return digest if digest.startswith(PREFIX) else PREFIX + digest


def strip(digest: str) -> str:
    return digest[len(PREFIX) :] if digest.startswith(PREFIX) else digest
