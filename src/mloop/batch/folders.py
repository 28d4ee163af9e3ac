"""A folder of Parquet files scored as one table: its files in name order, one schema.

What Spark, DuckDB and Ray Data call a Parquet dataset (``part-0000.parquet`` …) is the usual
shape of a big batch input, and what Ray Data reads in parallel. Both executors take the files
in the same order (sorted by name), so row N of the input is row N of the output whichever ran
it, and a reject's row number means the same thing. The folder's content hash is the BLAKE3 of
each file's name and hash, so renaming, adding or changing a file changes it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import blake3
import pyarrow as pa

from mloop.data.chunks import Chunks, _parquet_chunks, _rebatched
from mloop.errors import InvalidInput
from mloop.hashing import hash_chunks

SUFFIXES = (".parquet", ".pq")


def parquet_files(folder: Path) -> list[Path]:
    """The folder's Parquet files, sorted by name; ``InvalidInput`` when there are none."""
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and p.suffix.lower() in SUFFIXES and not p.name.startswith((".", "_"))
    )
    if not files:
        raise InvalidInput(
            f"{folder} is a folder without Parquet files (*.parquet); --input takes a CSV or "
            "Parquet file, or a folder of Parquet files."
        )
    return files


def folder_hash(files: list[Path]) -> str:
    hasher = blake3.blake3()
    for path in files:
        hasher.update(f"{path.name}\0{hash_chunks(path)}\n".encode())
    return str(hasher.hexdigest())


def open_folder_chunks(folder: Path, *, rows: int) -> Chunks:
    """The files' rows, one after the other, in tables of ``rows`` rows (chunks span files).
    Raises ``InvalidInput`` for a file that is not Parquet or whose columns differ."""
    files = parquet_files(folder)
    opened = [_parquet_chunks(path, rows) for path in files]
    first = opened[0].schema
    for path, chunks in zip(files, opened, strict=True):
        if not chunks.schema.equals(first):
            for each in opened:
                each.close()
            raise InvalidInput(
                f"{path} has other columns or types than {files[0].name} ({chunks.schema.names} "
                f"against {first.names}); every file of a folder must share one schema."
            )

    def batches() -> Iterator[pa.RecordBatch]:
        for chunks in opened:
            for table in chunks:
                yield from table.to_batches()

    total = sum(chunks.total_rows or 0 for chunks in opened)
    folder_chunks = Chunks(folder, "parquet", first, total, _rebatched(batches(), first, rows))
    for chunks in opened:
        folder_chunks._closer.callback(chunks.close)
    return folder_chunks
