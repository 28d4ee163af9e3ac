"""The artifact store named by a URL: a folder path or ``file://`` → local, ``memory://`` → memory,
``s3://BUCKET/PREFIX`` → a bucket (``mloop[s3]``; any S3-compatible store via ``AWS_ENDPOINT_URL``).

Adding a back end is one module implementing ``ArtifactStore`` and one line in ``BACKENDS``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from mloop.artifacts.base import ArtifactStore
from mloop.artifacts.local import LocalArtifactStore
from mloop.artifacts.memory import MemoryArtifactStore
from mloop.config import artifacts_folder, scheme_of
from mloop.errors import InvalidInput

_named_memory: dict[str, MemoryArtifactStore] = {}
_memory_lock = threading.Lock()


def _local(url: str, root: Path) -> ArtifactStore:
    return LocalArtifactStore(artifacts_folder(url, root) or root)


def _memory(url: str, root: Path) -> ArtifactStore:
    name = url.removeprefix("memory://")
    with _memory_lock:
        return _named_memory.setdefault(name, MemoryArtifactStore())


def _s3(url: str, root: Path) -> ArtifactStore:
    from mloop.artifacts.s3 import S3ArtifactStore, parse_s3_url

    bucket, prefix = parse_s3_url(url)
    return S3ArtifactStore(bucket, prefix, cache=Path(root) / ".mloop" / "blob-cache")


BACKENDS: dict[str, Callable[[str, Path], ArtifactStore]] = {
    "file": _local,
    "memory": _memory,
    "s3": _s3,
}

# Schemes users will reach for that are planned, with what to do meanwhile.
_LATER: dict[str, str] = {}


def open_artifact_store(url: str, *, root: Path) -> ArtifactStore:
    """The store ``url`` names; ``root`` anchors relative folder paths (the workspace root).

    Raises ``InvalidInput`` for a scheme mloop does not handle.
    """
    scheme = scheme_of(url)
    if scheme in _LATER:
        raise InvalidInput(
            f"Artifact URL {url!r}: {_LATER[scheme]} "
            "([artifacts] url in mloop.toml or MLOOP_ARTIFACTS)."
        )
    backend = BACKENDS.get(scheme)
    if backend is None:
        known = ", ".join(f"{name}://" for name in BACKENDS)
        raise InvalidInput(
            f"Artifact URL {url!r} has a scheme mloop does not know ({scheme}://); "
            f"use a folder path or one of {known}."
        )
    return backend(url, root)
