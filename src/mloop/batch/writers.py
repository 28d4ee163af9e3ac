"""Output files written chunk by chunk, appearing only when the whole job succeeded.

Each writer streams into a hidden temporary file beside its destination (same folder, so the
final rename is atomic on one file system), fsyncs it, and renames it over the destination only
by ``publish``; ``abort`` (any failure, Ctrl-C) deletes it. A half-written output that a later
step could mistake for a complete one never exists. The format follows the file name: ``.csv``
(``.csv.gz``, ``.csv.zst`` compressed; ``.tsv`` tab-separated) or ``.parquet``.

A CSV is written as Python's ``csv`` module and spreadsheets write one: a value is quoted only
when it holds the delimiter, a quote or a line end (or is an empty text, which unquoted would
read back as missing). Arrow's own CSV writer quotes every text value, so an input column read
as text (``54``, ``2.50``) came out as ``"54"``, ``"2.50"``: no longer the file the user gave.
The cells are rendered with Arrow's casts (numbers, dates, timestamps spelled as its writer
spells them), vectorised, so a chunk still costs a few passes over its columns.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.compute as pc
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
        self._writer: Any = None
        self._delimiter = delimiter
        if kind == "parquet":
            self._writer = pq.ParquetWriter(self.temp, schema, compression="zstd")
        else:
            self._stream = pa.output_stream(str(self.temp), compression=compression)
            header = delimiter.join(_quoted(name, delimiter) for name in schema.names)
            self._stream.write((header + "\n").encode())

    def write(self, table: pa.Table) -> None:
        if table.num_rows:
            table = table.cast(self.schema)
            if self._writer is not None:
                self._writer.write_table(table)
            else:
                self._stream.write(_csv_lines(table, self._delimiter))
            self.rows += table.num_rows

    def _close(self) -> None:
        if self._writer is not None:
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


_BYTES = pa.large_binary()  # 64-bit offsets: a chunk of long rows may pass 2 GiB of text
_QUOTE, _NONE, _EOL = (pa.scalar(b, _BYTES) for b in (b'"', b"", b"\n"))


def _quoted(text: str, delimiter: str) -> str:
    """One header name as a CSV cell: quoted only when it must be."""
    if not text or any(c in text for c in (delimiter, '"', "\r", "\n")):
        return '"' + text.replace('"', '""') + '"'
    return text


def _csv_cells(column: pa.ChunkedArray, delimiter: str) -> pa.ChunkedArray:
    """A column as CSV cells (bytes): Arrow's text for each value, quoted only when it holds
    the delimiter, a quote or a line end, or is empty (unquoted, it would read back as
    missing); a missing value is an empty cell."""
    kind = column.type
    if not _is_text(kind):  # numbers, dates, times, truth values: never a character to quote
        return column.cast(pa.large_string()).cast(_BYTES).fill_null(_NONE)  # type: ignore[no-any-return]
    if pa.types.is_dictionary(kind):
        column = column.cast(kind.value_type)
    cells = column.cast(_BYTES)
    needs = pc.equal(pc.binary_length(cells), 0)
    special = (delimiter, '"', "\r", "\n")
    if any(c.encode() in data for data in _data(cells) for c in special):  # memchr, not a regex
        pattern = f'[{delimiter}"\r\n]'  # the delimiter is a comma or a tab: literal in a class
        needs = pc.or_(needs, pc.match_substring_regex(cells, pattern))
    if not pc.any(needs).as_py():  # the common case: no cell of the column needs quotes
        return cells.fill_null(_NONE)  # type: ignore[no-any-return]
    quoted = pc.binary_join_element_wise(
        _QUOTE, pc.replace_substring(cells, '"', '""'), _QUOTE, _NONE
    )
    return pc.if_else(needs, quoted, cells).fill_null(_NONE)  # type: ignore[no-any-return]


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        return _is_text(kind.value_type)
    return bool(
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    )


def _data(cells: pa.ChunkedArray) -> list[bytes]:
    """The value bytes of each chunk (a chunk's buffer may hold more than its slice: a test on
    it can only say yes too often, which the exact test after it corrects)."""
    return [
        b"" if chunk.buffers()[2] is None else chunk.buffers()[2].to_pybytes()
        for chunk in cells.chunks
    ]


def _csv_lines(table: pa.Table, delimiter: str) -> pa.Buffer:
    """``table``'s rows as CSV lines, each ended by ``\\n``, in one buffer to write."""
    cells = [_csv_cells(column, delimiter) for column in table.columns]
    rows = pc.binary_join_element_wise(*cells, pa.scalar(delimiter.encode(), _BYTES))
    lines = pc.binary_join_element_wise(rows, _NONE, _EOL).combine_chunks()
    _, offsets, data = lines.buffers()
    ends = pa.Array.from_buffers(pa.int64(), len(lines) + 1, [None, offsets], offset=lines.offset)
    start, end = ends[0].as_py(), ends[-1].as_py()
    return data.slice(start, end - start)  # the lines' bytes, back to back
