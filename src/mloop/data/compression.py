"""Compressed text tables (gzip, bzip2, xz, zstd), read transparently by their magic bytes.

Detected by content, never by the file name: a stored snapshot is a blob without one, and
``sales.csv.gz`` renamed to ``sales.csv`` is still gzip. ZIP is an archive of files, not a
compressed stream, and stays refused by name in ``io``.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import zlib
from pathlib import Path
from typing import IO, cast

import pyarrow as pa

from mloop.errors import InvalidInput

# bzip2 is "BZh" + a block-size digit + the block (or end-of-stream) magic: "BZh" alone would
# also match a CSV whose first column is called "BZhours".
_BZIP2_BLOCKS = (b"1AY&SY", b"\x17rE8P\x90")
_NAMES = {"gzip": "gzip", "bz2": "bzip2", "xz": "xz", "zstd": "zstd"}


def compression_of(head: bytes) -> str | None:
    """``gzip``, ``bz2``, ``xz`` or ``zstd`` from a file's first bytes; ``None`` for anything else."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] in _BZIP2_BLOCKS:
        return "bz2"
    return None


def _open(path: Path, codec: str) -> IO[bytes]:
    if codec == "gzip":
        return cast(IO[bytes], gzip.open(path, "rb"))  # typeshed's GzipFile lacks IO's full API
    if codec == "bz2":
        return bz2.open(path, "rb")
    if codec == "xz":
        return lzma.open(path, "rb")
    # The standard library has no zstd before 3.14; pyarrow, already a dependency, does.
    return pa.input_stream(str(path), compression="zstd")  # type: ignore[no-any-return]


def decompressed(path: Path, codec: str, *, limit: int = -1) -> bytes:
    """The file's decompressed bytes (only the first ``limit`` when sniffing); raises
    ``InvalidInput`` for a damaged or truncated stream."""
    try:
        with _open(path, codec) as stream:
            return stream.read() if limit < 0 else stream.read(limit)
    except (OSError, EOFError, zlib.error, lzma.LZMAError, pa.ArrowException) as exc:
        raise InvalidInput(
            f"{path} is a damaged {_NAMES[codec]} file ({exc}); re-create it."
        ) from exc
