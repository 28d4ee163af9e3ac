"""Output files written chunk by chunk, appearing only when the whole job succeeded.

Each writer streams into a hidden temporary file beside its destination (same folder, so the
final rename is atomic on one file system), fsyncs it, and renames it over the destination only
by ``publish``; ``abort`` (any failure, Ctrl-C) deletes it. A half-written output that a later
step could mistake for a complete one never exists. The format follows the file name: ``.csv``
(``.csv.gz``, ``.csv.zst`` compressed; ``.tsv`` tab-separated) or ``.parquet``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mloop.errors import InvalidInput
from mloop.hashing import hash_chunks

Kind = Literal["csv", "parquet"]
_SUFFIXES: dict[str, tuple[Kind, str | None, str]] = {
    ".csv": ("csv", None, ","),
    ".tsv": ("csv", None, "\t"),
    ".csv.gz": ("csv", "gzip", ","),
    ".csv.zst": ("csv", "zstd", ","),
    ".parquet": ("parquet", None, ","),
    ".pq": ("parquet", None, ","),
}
NAMES = ", ".join(_SUFFIXES)


def output_kind(path: Path, *, what: str = "--output") -> tuple[Kind, str | None, str]:
    """(format, compression, CSV delimiter) from the file name; raises ``InvalidInput``."""
    name = path.name.lower()
    for suffix in sorted(_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix) and len(name) > len(suffix):
            return _SUFFIXES[suffix]
    raise InvalidInput(f"{what} {path} needs a file name ending in one of {NAMES}.")


def check_destination(path: Path, *, what: str = "--output") -> None:
    """A destination whose folder exists and that is not a folder itself; raises ``InvalidInput``."""
    output_kind(path, what=what)
    if path.is_dir():
        raise InvalidInput(f"{what} {path} is a folder; give a file name.")
    if not path.parent.is_dir():
        raise InvalidInput(
            f"{what} {path}: the folder {path.parent} does not exist; create it first."
        )


class TableWriter:
    """Arrow tables of one schema into one CSV or Parquet file, atomically."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.schema = schema
        kind, compression, delimiter = output_kind(path)
        self.temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
        self.rows = 0
        self._stream: Any = None
        self._writer: Any
        if kind == "parquet":
            self._writer = pq.ParquetWriter(self.temp, schema, compression="zstd")
        else:
            self._stream = pa.output_stream(str(self.temp), compression=compression)
            self._writer = pacsv.CSVWriter(
                self._stream, schema, write_options=pacsv.WriteOptions(delimiter=delimiter)
            )

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            self._writer.write_table(table.cast(self.schema))
            self.rows += table.num_rows

    def _close(self) -> None:
        self._writer.close()
        if self._stream is not None:
            self._stream.close()

    def finish(self) -> str:
        """Complete the temporary file and make it durable; returns its BLAKE3 hash."""
        self._close()
        with open(self.temp, "rb") as handle:
            os.fsync(handle.fileno())
        return hash_chunks(self.temp)

    def publish(self) -> None:
        """Move the finished file into place (atomic: readers see the old file or the new)."""
        os.replace(self.temp, self.path)

    def abort(self) -> None:
        """Drop the temporary file; the destination is left as it was."""
        with contextlib.suppress(Exception):
            self._close()
        with contextlib.suppress(FileNotFoundError):
            self.temp.unlink()
