"""Segment files of one endpoint's log: naming, the append-only Arrow stream, Parquet conversion.

An endpoint folder holds

- ``<start_ms>-<uid>.arrows``: an Arrow IPC *stream*, appended batch by batch by the writer and
  never rewritten. After SIGKILL (or a full disk) its last message may be torn; readers keep the
  complete batches before it, so a crash costs at most the batch being written.
- ``<min_ms>-<max_ms>-L<level>-<uid>.parquet``: closed data, sorted by timestamp. Level 0 is one
  converted stream (same ``uid``, so a stream whose Parquet exists is a leftover, never read
  twice); higher levels are merges of smaller files (see ``compaction``).
- ``<uid>.merge``: a merge in progress (its output and inputs); see ``visible_files``.

Every Parquet file is written temp → fsync → rename → fsync folder, so it is whole or absent.
``uid`` is ``<writer id>-<sequence>``; the writer id names the process's lock file, which tells a
recovering process whether a stream's writer is still alive.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import orjson
import pyarrow as pa
import pyarrow.ipc as ipc
import pyarrow.parquet as pq

STREAM_SUFFIX = ".arrows"
PARQUET_SUFFIX = ".parquet"
MERGE_SUFFIX = ".merge"
ROW_GROUP_ROWS = 128 * 1024

_UID = r"(?P<uid>[0-9a-z]{16}-[0-9]{6,})"
_STREAM = re.compile(rf"^(?P<start>[0-9]{{13}})-{_UID}\.arrows$")
_PARQUET = re.compile(
    rf"^(?P<min>[0-9]{{13}})-(?P<max>[0-9]{{13}})-L(?P<level>[0-9]+)-{_UID}\.parquet$"
)


@dataclass(frozen=True)
class ParquetFile:
    path: Path
    min_ms: int
    max_ms: int
    level: int
    uid: str

    @property
    def writer(self) -> str:
        return self.uid.partition("-")[0]


@dataclass(frozen=True)
class StreamFile:
    path: Path
    start_ms: int
    uid: str

    @property
    def writer(self) -> str:
        return self.uid.partition("-")[0]


def stream_name(start_ms: int, uid: str) -> str:
    return f"{start_ms:013d}-{uid}{STREAM_SUFFIX}"


def parquet_name(min_ms: int, max_ms: int, level: int, uid: str) -> str:
    return f"{min_ms:013d}-{max_ms:013d}-L{level}-{uid}{PARQUET_SUFFIX}"


def parse_parquet(path: Path) -> ParquetFile | None:
    match = _PARQUET.match(path.name)
    if match is None:
        return None
    return ParquetFile(
        path, int(match["min"]), int(match["max"]), int(match["level"]), match["uid"]
    )


def parse_stream(path: Path) -> StreamFile | None:
    match = _STREAM.match(path.name)
    return None if match is None else StreamFile(path, int(match["start"]), match["uid"])


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _names(folder: Path) -> list[str]:
    try:
        return os.listdir(folder)
    except FileNotFoundError:
        return []


def visible_files(folder: Path) -> tuple[list[ParquetFile], list[StreamFile]]:
    """The files that hold the log, each record exactly once.

    Hidden: a Parquet file that a finished merge replaced (its ``.merge`` intent names it and the
    merge's output exists), and a stream whose Parquet conversion exists. Both are leftovers of a
    crash between publishing the new file and deleting the old ones.
    """
    names = _names(folder)
    replaced: set[str] = set()
    for name in names:
        if name.endswith(MERGE_SUFFIX):
            intent = read_intent(folder / name)
            if intent and intent[0] in names:
                replaced.update(intent[1])
    parquet = [
        found
        for name in names
        if name.endswith(PARQUET_SUFFIX) and name not in replaced
        if (found := parse_parquet(folder / name)) is not None
    ]
    converted = {p.uid for p in parquet}
    streams = [
        stream
        for name in names
        if name.endswith(STREAM_SUFFIX)
        if (stream := parse_stream(folder / name)) is not None and stream.uid not in converted
    ]
    parquet.sort(key=lambda p: (p.min_ms, p.uid))
    streams.sort(key=lambda s: (s.start_ms, s.uid))
    return parquet, streams


def write_intent(path: Path, output: str, inputs: list[str]) -> None:
    data = orjson.dumps({"output": output, "inputs": inputs})
    with open(path, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    fsync_dir(path.parent)


def read_intent(path: Path) -> tuple[str, list[str]] | None:
    try:
        data = orjson.loads(path.read_bytes())
        return str(data["output"]), [str(n) for n in data["inputs"]]
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return None  # being written, or torn by a crash before its fsync: no merge was published


class ActiveSegment:
    """One Arrow IPC stream being appended to; ``sync`` makes what was appended durable."""

    def __init__(self, folder: Path, start_ms: int, uid: str, schema: pa.Schema) -> None:
        self.path = folder / stream_name(start_ms, uid)
        self.schema = schema
        self.rows = 0
        self.dirty = False
        # O_EXCL: a stream is only ever written by the writer that created it.
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._file: BinaryIO = os.fdopen(fd, "wb", buffering=1 << 20)
        self._writer = ipc.new_stream(self._file, schema)
        self._file.flush()
        fsync_dir(folder)  # the name must survive a power loss as much as the data in it

    @property
    def size(self) -> int:
        return self._file.tell()

    def append(self, batch: pa.RecordBatch) -> None:
        """Write one batch and hand it to the OS (it survives a killed process from here on)."""
        self._writer.write_batch(batch)
        self._file.flush()
        self.rows += batch.num_rows
        self.dirty = True

    def sync(self) -> bool:
        """fsync what was appended since the last sync; whether there was anything to sync."""
        if not self.dirty:
            return False
        # fdatasync where there is one (as Redis does on Linux): the data and the file's size,
        # without the modification time's extra metadata write.
        getattr(os, "fdatasync", os.fsync)(self._file.fileno())
        self.dirty = False
        return True

    def seal(self) -> None:
        """End the stream (end-of-stream marker), make it durable and close it."""
        self._writer.close()
        self._file.flush()
        os.fsync(self._file.fileno())
        self.dirty = False
        self._file.close()

    def abandon(self) -> None:
        """Close after a failed write; readers keep the complete batches before the torn one."""
        with contextlib.suppress(Exception):
            self._file.close()


def iter_complete_batches(path: Path) -> Iterator[pa.RecordBatch]:
    """The whole batches of a stream file, stopping quietly at a torn or missing tail."""
    try:
        source = pa.memory_map(str(path))
    except (FileNotFoundError, pa.ArrowInvalid, OSError):
        return
    with source:
        try:
            reader = ipc.open_stream(source)
        except (pa.ArrowInvalid, OSError):
            return  # the schema itself is torn: nothing was acknowledged in it
        while True:
            try:
                batch = reader.read_next_batch()
                batch.validate()
            except StopIteration:
                return
            except (pa.ArrowInvalid, OSError):
                return
            yield batch


def read_stream(path: Path) -> pa.Table | None:
    """A stream file's complete batches as one table (None when it holds none)."""
    batches = list(iter_complete_batches(path))
    if not batches:
        return None
    return pa.Table.from_batches(batches)


def drop_null_columns(table: pa.Table) -> pa.Table:
    """Columns that never held a value carry no type; readers fill them by name anyway."""
    keep = [i for i, f in enumerate(table.schema) if not pa.types.is_null(f.type)]
    return table.select(keep)


def temp_path(final: Path) -> Path:
    """A private temp name beside ``final``: two processes recovering one stream never share it."""
    return final.with_name(f"{final.name}.{secrets.token_hex(4)}.tmp")


def write_parquet(table: pa.Table, folder: Path, level: int, uid: str) -> Path:
    """Publish ``table`` sorted by time as a Parquet file, whole or not at all."""
    table = drop_null_columns(table).sort_by("timestamp")
    stamps = table.column("timestamp")
    low = stamps[0].value // 1000 if stamps[0].is_valid else 0
    high = stamps[-1].value // 1000 if stamps[-1].is_valid else low
    final = folder / parquet_name(max(low, 0), max(high, 0), level, uid)
    tmp = temp_path(final)
    with open(tmp, "wb") as out:
        pq.write_table(
            table, out, compression="zstd", row_group_size=ROW_GROUP_ROWS, write_statistics=True
        )
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, final)
    fsync_dir(folder)
    return final


def convert_stream(stream: StreamFile) -> Path | None:
    """Compact a sealed (or crashed) stream into a level-0 Parquet file, then delete it."""
    table = read_stream(stream.path)
    published = None
    if table is not None and table.num_rows:
        published = write_parquet(table, stream.path.parent, 0, stream.uid)
    with contextlib.suppress(FileNotFoundError):
        stream.path.unlink()
    return published
