"""A CSV or Parquet file read in chunks of a fixed number of rows, never whole.

Batch scoring reads files of any size in bounded memory, so it cannot use ``io.read_arrow`` (one
whole-file read) and cannot use ``io.stream_csv`` (which gives up on text columns, the common
case). This is the same reader with the same rules, streamed: the same format sniffing, separator
sniffing, null spellings, empty rows left out, BOM handling, compression (by magic bytes), and
the same sentences for a file that is not a table (``io`` owns all of them; this module only
feeds them block by block).

Every CSV value is read as text: a streamed reader that guesses types from its first block fails
on a later block that disagrees (a number column whose millionth value is ``"n/a!"``), where a
scorer must instead reject that one row. ``typed_columns`` then gives each chunk's columns the
types ``read_arrow`` would infer, so the validator and the model see what they see elsewhere.
Parquet batches keep the file's own types.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mloop.data.compiled import is_number_text
from mloop.data.compression import compression_of
from mloop.data.io import (
    _UNNAMED_INDEX,
    NULL_VALUES,
    STREAM_BLOCK,
    WHITESPACE,
    EmptyRows,
    Format,
    _check_columns,
    _decoded_head,
    _flat_columns,
    _head,
    _parse_options,
    _refine_text_columns,
    _split_on_whitespace,
    csv_error,
    detect_format,
    has_leading_zero,
    header_names,
    legacy_encoding,
    sniff_delimiter,
    trailing_named,
    trimmed_text,
)
from mloop.errors import InvalidInput

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_TRUTH = pa.array(["true", "True", "TRUE", "false", "False", "FALSE"])


class _WhitespaceSplitter:
    """A file whose runs of spaces and tabs read as one tab (``io._split_on_whitespace``), one
    block of whole lines at a time, so Arrow's reader can split aligned columns as it streams."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.rest = b""

    def read(self, size: int = -1) -> bytes:
        while True:
            data = self.source.read(size if size > 0 else STREAM_BLOCK)
            if not data:
                out, self.rest = self.rest, b""
                return _split_on_whitespace(out) if out else b""
            data = self.rest + data
            cut = data.rfind(b"\n") + 1
            if cut:
                self.rest = data[cut:]
                return _split_on_whitespace(data[:cut])
            self.rest = data  # no line end yet: read on

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.source.close()

    @property
    def closed(self) -> bool:
        return bool(self.source.closed)


@dataclass
class Chunks:
    """The chunks of one file: ``schema`` of the columns as read (all text for a CSV),
    ``total_rows`` when the file says (Parquet), and ``fraction_read()`` for a progress bar."""

    path: Path
    format: Format
    schema: pa.Schema
    total_rows: int | None
    tables: Iterator[pa.Table]
    _raw: IO[bytes] | None = None
    _size: int = 0
    _closer: ExitStack = field(default_factory=ExitStack)
    delimiter: str = ","  # a CSV's (its local numbers read by it, as read_arrow reads them)
    empty: EmptyRows = field(default_factory=EmptyRows)  # a CSV's rows of no value, left out

    def __iter__(self) -> Iterator[pa.Table]:
        return self.tables

    def fraction_read(self) -> float | None:
        """How much of the file's bytes the reader has consumed (CSV), for progress."""
        if self._raw is None or not self._size or self._raw.closed:
            return None
        return min(self._raw.tell() / self._size, 1.0)

    def close(self) -> None:
        self._closer.close()

    def __enter__(self) -> Chunks:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def open_chunks(path: Path, *, rows: int, sep: str | None = None) -> Chunks:
    """The file's rows in tables of exactly ``rows`` rows (the last one shorter); use as a
    context manager. ``sep`` as for ``io.read_arrow``. Raises ``InvalidInput`` for a file that
    is not a table (now, for its start; while iterating, for a later bad block)."""
    path = Path(path)
    if detect_format(path) == "parquet":
        return _parquet_chunks(path, rows)
    return _csv_chunks(path, rows, sep)


def _rebatched(
    batches: Iterator[pa.RecordBatch], schema: pa.Schema, rows: int
) -> Iterator[pa.Table]:
    pending: list[pa.RecordBatch] = []
    held = 0
    for batch in batches:
        if not batch.num_rows:
            continue
        pending.append(batch)
        held += batch.num_rows
        if held < rows:
            continue
        table = pa.Table.from_batches(pending, schema)
        start = 0
        while held - start >= rows:
            yield table.slice(start, rows)
            start += rows
        rest = table.slice(start)
        pending, held = rest.to_batches(), rest.num_rows
    if held:
        yield pa.Table.from_batches(pending, schema)


def _parquet_chunks(path: Path, rows: int) -> Chunks:
    try:
        file = pq.ParquetFile(path)
        arrow_schema = file.schema_arrow
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput(
            f"{path} looks like Parquet but cannot be read ({str(exc).splitlines()[0]})."
        ) from exc
    _check_columns(path, arrow_schema.names)
    # pandas' unnamed index (a filter's row numbers) is not the user's column, as in read_arrow
    columns = [n for n in arrow_schema.names if not _UNNAMED_INDEX.fullmatch(n)]
    flat = _flat_columns(path, arrow_schema.empty_table().select(columns)).schema

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            for batch in file.iter_batches(
                batch_size=rows, columns=columns, use_pandas_metadata=False
            ):
                yield from _flat_columns(path, pa.Table.from_batches([batch])).to_batches()
        except (pa.ArrowInvalid, OSError) as exc:
            raise InvalidInput(
                f"{path} is a damaged Parquet file ({str(exc).splitlines()[0]}); re-create it."
            ) from exc

    chunks = Chunks(
        path, "parquet", flat, file.metadata.num_rows, _rebatched(batches(), flat, rows)
    )
    chunks._closer.callback(file.close)
    return chunks


def _csv_chunks(path: Path, rows: int, sep: str | None) -> Chunks:
    head = _head(path)
    decoded = _decoded_head(head)
    delimiter = sniff_delimiter(decoded) if sep is None else sep
    split = delimiter == WHITESPACE
    if split:
        delimiter = "\t"
    encoding = "utf-16" if head.startswith(_UTF16_BOMS) else "utf8"
    legacy = None if encoding != "utf8" or _utf8_so_far(head) else legacy_encoding(head)
    if legacy is not None:  # Arrow transcodes as it reads; the header is sniffed from the text
        encoding, decoded = legacy, head.decode(legacy, "ignore").encode("utf-8")
    closer = ExitStack()
    try:
        raw = closer.enter_context(path.open("rb"))
        codec = compression_of(raw.read(16))
        raw.seek(0)
        source: Any = raw
        if codec is not None:
            source = closer.enter_context(pa.CompressedInputStream(raw, codec))
        if split:
            source = _WhitespaceSplitter(source)
        parse = _parse_options(decoded, delimiter)
        names = _header(path, decoded, parse, split)
        reader = pacsv.open_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=STREAM_BLOCK, encoding=encoding),
            parse_options=parse,
            convert_options=pacsv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.string()),
                include_columns=names,
                null_values=NULL_VALUES,
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowException as exc:
        closer.close()
        raise _csv_problem(path, exc) from exc
    except BaseException:
        closer.close()
        raise
    # read by the file's names, handed on with a blank index column named
    schema = pa.schema(
        [f.with_name(n) for f, n in zip(reader.schema, header_names(names), strict=True)]
    )

    empty = EmptyRows()

    def batches() -> Iterator[pa.RecordBatch]:
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowException as exc:
                raise _csv_problem(path, exc) from exc
            yield empty.drop(pa.RecordBatch.from_arrays(batch.columns, schema=schema))

    chunks = Chunks(
        path, "csv", schema, None, _rebatched(batches(), schema, rows), raw, path.stat().st_size
    )
    chunks.empty = empty
    chunks._closer = closer
    chunks.delimiter = parse.delimiter if not split else WHITESPACE
    return chunks


def _header(path: Path, head: bytes, parse: pacsv.ParseOptions, split: bool) -> list[str]:
    """The column names, read from the file's first bytes by the same parser."""
    if split:
        head = _split_on_whitespace(head)
    end = max(head.find(b"\n"), head.find(b"\r"))
    first = head if end < 0 else head[: end + 1]
    if not first.strip():
        raise InvalidInput(f"{path} is empty; a table needs at least a header row.")
    if not first.endswith((b"\n", b"\r")):
        first += b"\n"
    try:
        names = pacsv.read_csv(
            pa.BufferReader(first),
            parse_options=pacsv.ParseOptions(delimiter=parse.delimiter),
        ).column_names
    except pa.ArrowException as exc:
        raise csv_error(path, exc) from exc
    names = trailing_named(names)  # data past them is ignored, as extra columns are
    _check_columns(path, header_names(names))
    return list(names)


def _utf8_so_far(head: bytes) -> bool:
    """Whether a file's first bytes are UTF-8, a character cut off at their end aside."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data" and exc.start >= len(head) - 3
    return True


def _csv_problem(path: Path, exc: pa.ArrowException) -> InvalidInput:
    message = str(exc)
    if "invalid UTF8" in message:
        return InvalidInput(
            f"{path} is not UTF-8 past its first lines ({message.splitlines()[0]}); re-save it "
            "as UTF-8, e.g. `iconv -f cp1252 -t utf-8`."
        )
    return csv_error(path, exc)


def typed_columns(
    table: pa.Table,
    names: Collection[str] | None = None,
    *,
    delimiter: str = ",",
    formats: Mapping[str, str] | None = None,
) -> pa.Table:
    """Text columns (``names``, else all) as the types ``read_arrow`` would infer for them:
    integers, then floats, then truth values, then timestamps. A column stays text when any
    value is not of the type; the validator then names the rows that are not, as it does for
    a whole file. ``formats`` as for ``read_arrow``."""
    for index, field_ in enumerate(table.schema):
        if names is not None and field_.name not in names:
            continue
        column = table.column(index)
        if not pa.types.is_string(field_.type) or column.null_count == len(column):
            continue
        trimmed = trimmed_text(column)
        if trimmed is not None:
            column = trimmed
            table = table.set_column(index, field_.name, column)
        typed = _inferred(column)
        # local numbers (7418,12) and dates (06.06.2021), as read_arrow reads them
        if typed is None:
            one = table.select([index])
            refined = _refine_text_columns(one, delimiter, formats).column(0)
            typed = None if pa.types.is_string(refined.type) else refined
        if typed is not None:
            table = table.set_column(index, field_.name, typed)
    return table


_DATE_START = re.compile(r"\s*\d{4}-\d{2}-\d{2}")
_TRUTH_SPELLINGS = {"true", "false"}


def _first_value(column: pa.ChunkedArray) -> str | None:
    for chunk in column.chunks:
        if chunk.null_count < len(chunk):
            value = pc.drop_null(chunk[: 1 + chunk.null_count])[0].as_py()
            return str(value)
    return None


def _inferred(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """The column as its inferred type, or None. The first value picks the one cast worth
    trying, since a cast that fails still reads the whole column."""
    first = _first_value(column)
    if first is None:
        return None
    if is_number_text(first):
        kinds = [pa.float64()] if re.search(r"[.eEnN]", first) else [pa.int64(), pa.float64()]
        for kind in kinds:
            try:
                typed = column.cast(kind)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            if pa.types.is_integer(kind) and has_leading_zero(column):
                return None  # zip codes and ids with leading zeros stay text, as in read_arrow
            return typed
        return None
    if first.lower() in _TRUTH_SPELLINGS:
        if pc.all(pc.is_in(column.drop_null(), _TRUTH)).as_py():
            return pc.equal(pc.utf8_lower(column), "true")
        return None
    if _DATE_START.match(first):
        try:
            return column.cast(pa.timestamp("us"))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return None
    return None
