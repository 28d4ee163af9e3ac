"""A big CSV read once, in blocks of whole rows parsed on every core and handed on in file order.

Arrow's streaming CSV reader parses on one core, and costs more CPU than parsing the same bytes as
independent blocks (1 GiB of numbers: ~11 s against ~7 s of CPU here, see benchmarks/data_add.py).
So the file is cut at row ends (line breaks outside quotes): each block is read once into its own
buffer, handed to ``sink`` (the artifact store hashes and writes it) and parsed on a thread pool
(Arrow releases the GIL) with the types the first block inferred, while the caller profiles the
blocks before it. Memory holds a few blocks at a time, never the file.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from io import FileIO
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from mloop.data.compression import compression_of
from mloop.data.io import (
    _SNIFF,
    WHITESPACE,
    EmptyRows,
    _check_columns,
    _convert_options,
    _may_have_leading_zeros,
    _parse_options,
    is_text,
    sniff_delimiter,
)

# CSVs at least this big are read in batches while they are profiled, never whole.
STREAM_FROM = 256 << 20
# Bytes per block: big enough that each parse and profile call is worth its fixed cost, small
# enough that the blocks in flight (two per core) stay a small share of memory.
BLOCK_BYTES = 16 << 20
# Parse threads at most: each holds a block or two in flight.
_MAX_WORKERS = 8

Sink = Callable[[memoryview], None]


class NeedsWholeRead(Exception):
    """A streamed CSV turned out to need the whole-file reader (a later block changed a type)."""


def stream_csv(
    path: Path,
    source: FileIO,
    sink: Sink,
    *,
    sep: str | None = None,
    empty: EmptyRows | None = None,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]] | None:
    """The batches of a big CSV of numbers, dates and booleans, read from ``source`` (``path``
    opened unbuffered) once, in memory bounded by a few blocks; ``None`` when the file needs
    ``read_arrow`` (compressed or not plain UTF-8, text columns to refine, integer columns that
    may hold leading zeros). Every byte read is passed to ``sink`` in file order; the caller
    reads on from ``source`` for what the parse did not need. The iterator raises
    ``NeedsWholeRead`` when a later block does not parse as the first did: the caller starts
    again with ``read_arrow``. ``sep`` as for ``read_arrow`` (runs of spaces need the whole-file
    reader); empty rows are left out as it leaves them out, counted in ``empty``."""
    with path.open("rb") as handle:
        head = handle.read(_SNIFF)
    if compression_of(head) or head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return None
    delimiter = sniff_delimiter(head) if sep is None else sep
    if delimiter == WHITESPACE:
        return None
    parse = _parse_options(head, delimiter)
    blocks = _line_blocks(source, sink)
    try:
        first = _first_table(blocks, parse)
    except (pa.ArrowException, OSError):
        return None
    if first is None:
        return None
    schema = first.schema
    if any(is_text(f.type) or pa.types.is_null(f.type) for f in schema):
        return None
    _check_columns(path, schema.names)
    if any(pa.types.is_integer(f.type) for f in schema):
        data = np.memmap(path, dtype=np.uint8, mode="r")
        if _may_have_leading_zeros(data, delimiter):
            return None
    return schema, map((empty or EmptyRows()).drop, _parsed_in_order(first, blocks, parse))


def _line_blocks(source: FileIO, sink: Sink, size: int | None = None) -> Iterator[memoryview]:
    """``source`` in blocks of about ``size`` bytes of whole rows (the last one ends with the
    file), each read straight into its own buffer; a row longer than ``size`` grows its block."""
    size = size or BLOCK_BYTES
    tail = b""
    while True:
        buffer = bytearray(len(tail) + size)
        buffer[: len(tail)] = tail
        view = memoryview(buffer)
        read = source.readinto(view[len(tail) :]) or 0
        end = len(tail) + read
        if not read:
            if tail:
                yield view[:end]
            return
        sink(view[len(tail) : end])
        cut = _row_end(buffer, end)
        tail = bytes(view[cut:end])
        if cut:
            yield view[:cut]


def _row_end(buffer: bytearray, end: int) -> int:
    """Where the last whole row in ``buffer[:end]`` ends (0: none yet), for a buffer that starts
    where a row does: after the last line break outside quotes, that is with an even number of
    quote characters before it (a quoted value may hold line breaks; ``""`` inside one adds two)."""
    newline = b"\n"
    cut = buffer.rfind(newline, 0, end) + 1
    if not cut:  # "\r" alone ends lines in old Mac files
        newline = b"\r"
        cut = buffer.rfind(newline, 0, end) + 1
    if not cut or buffer.find(b'"', 0, cut) < 0:
        return cut
    quotes = buffer.count(b'"', 0, cut)
    while cut and quotes % 2:
        previous = buffer.rfind(newline, 0, cut - 1) + 1
        quotes -= buffer.count(b'"', previous, cut)
        cut = previous
    return cut


def _first_table(blocks: Iterator[memoryview], parse: pacsv.ParseOptions) -> pa.Table | None:
    """The header and the first block: its types are every later block's."""
    block = next(blocks, None)
    if block is None:
        return None
    return pacsv.read_csv(
        pa.py_buffer(block),
        read_options=pacsv.ReadOptions(use_threads=False, block_size=_block_size(block)),
        parse_options=parse,
        convert_options=_convert_options(),
    )


def _block_size(block: memoryview) -> int:
    return min(len(block) + 1, 1 << 30)  # one batch a block


def _parse_block(
    block: memoryview, schema: pa.Schema, parse: pacsv.ParseOptions
) -> list[pa.RecordBatch]:
    convert = _convert_options()
    convert.column_types = {field.name: field.type for field in schema}
    table = pacsv.read_csv(
        pa.py_buffer(block),
        read_options=pacsv.ReadOptions(
            use_threads=False, column_names=schema.names, block_size=_block_size(block)
        ),
        parse_options=parse,
        convert_options=convert,
    )
    batches: list[pa.RecordBatch] = table.to_batches()
    return batches


def _parsed_in_order(
    first: pa.Table, blocks: Iterator[memoryview], parse: pacsv.ParseOptions
) -> Iterator[pa.RecordBatch]:
    """The first table's batches, then each later block's, parsed ahead on a thread pool
    (Arrow releases the GIL) while the caller works on the ones before."""
    workers = min(os.cpu_count() or 1, _MAX_WORKERS)
    ahead = 2 * workers
    pool = ThreadPoolExecutor(workers, thread_name_prefix="mloop-csv")
    pending: deque[Future[list[pa.RecordBatch]]] = deque()
    try:
        for block in blocks:
            pending.append(pool.submit(_parse_block, block, first.schema, parse))
            if len(pending) >= ahead:
                break
        yield from first.to_batches()
        while pending:
            try:
                batches = pending.popleft().result()
            except pa.ArrowException as exc:  # the whole-file reader says what is wrong
                raise NeedsWholeRead(str(exc)) from exc
            following = next(blocks, None)
            if following is not None:
                pending.append(pool.submit(_parse_block, following, first.schema, parse))
            yield from batches
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
