"""A big CSV snapshotted in one read: parsed, typed, profiled, hashed and stored in one pass.

``csv_stream`` reads the file once, in blocks of whole rows parsed on every core; each block it
reads is also handed to the artifact store's ``put_stream`` (in a thread, through a short
queue), which hashes and writes it. So the file is read once, memory is bounded by a few blocks,
the profile sees batches, never the whole table, and the stored blob is the very bytes profiled.
Files this cannot take (small, compressed, with text columns to refine, …) return ``None`` and go
through ``read_arrow``.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import NamedTuple

from mloop.artifacts import ArtifactStore, BlobRef
from mloop.data.csv_stream import STREAM_FROM, NeedsWholeRead, stream_csv
from mloop.data.io import EmptyRows
from mloop.data.profile import DatasetProfile, infer_and_profile, sketch_rate
from mloop.data.schema import Schema

_QUEUED_BLOCKS = 4


class _Abort(Exception):
    """The parse gave up: the store must drop what it wrote."""


class _Sink:
    """Hands each block the reader reads to the store's queue, in order; once the copy is
    aborted (``stopped``) blocks are dropped, so a full queue cannot block the reader."""

    def __init__(self, queue_: queue.Queue[bytes | memoryview | BaseException]) -> None:
        self.queue = queue_
        self.stopped = False

    def __call__(self, data: memoryview) -> None:
        while not self.stopped:
            try:
                self.queue.put(data, timeout=0.1)
                return
            except queue.Full:
                continue


class _Drain:
    """What ``put_stream`` reads: the tee's blocks in order, then the end (or the abort)."""

    def __init__(self, source: queue.Queue[bytes | memoryview | BaseException]) -> None:
        self.source = source

    def read(self, size: int = -1, /) -> bytes:
        item = self.source.get()
        if isinstance(item, BaseException):
            raise item
        # A view of the reader's block: the store only hashes and writes it (no copy).
        return item  # type: ignore[return-value]


class Snapshot(NamedTuple):
    schema: Schema
    profile: DatasetProfile
    shape: tuple[int, int]
    blob: BlobRef
    empty_rows: int  # left out of the profile and the shape (io.EmptyRows)


def snapshot_csv(
    path: Path, artifacts: ArtifactStore, *, sep: str | None = None
) -> Snapshot | None:
    """Schema, profile, shape and stored blob of a big CSV in one read, or ``None`` when the
    file is small or needs the whole-file reader (nothing is stored then). ``sep`` as for
    ``io.read_arrow``."""
    size = path.stat().st_size
    if size < STREAM_FROM:
        return None
    blocks: queue.Queue[bytes | memoryview | BaseException] = queue.Queue(maxsize=_QUEUED_BLOCKS)
    stored: list[BlobRef] = []
    failed: list[BaseException] = []

    def store() -> None:
        try:
            stored.append(artifacts.put_stream(_Drain(blocks)))
        except _Abort:
            return
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)
            while not isinstance(blocks.get(), BaseException):  # until the caller aborts
                pass

    empty = EmptyRows()
    with path.open("rb", buffering=0) as source:
        sink = _Sink(blocks)
        writer = threading.Thread(target=store, name="mloop-store", daemon=True)
        writer.start()
        committed = False
        try:
            stream = stream_csv(path, source, sink, sep=sep, empty=empty)
            if stream is None:
                return None
            arrow_schema, batches = stream
            schema, profile = infer_and_profile(
                batches, arrow_schema, sample_rate=sketch_rate(size, len(arrow_schema))
            )
            if profile.rows == 0:
                return None  # the whole-file reader says what is wrong
            if not failed:  # (a store error is raised below)
                while rest := source.read(16 << 20):  # what the reader did not ask for
                    sink(memoryview(rest))
                blocks.put(b"")  # the end: the store publishes the blob
                committed = True
        except NeedsWholeRead:
            return None  # a later block needs the whole-file reader (a type changed, …)
        finally:
            if not committed:
                sink.stopped = True
                blocks.put(_Abort())
            writer.join()
    if failed:
        raise failed[0]
    return Snapshot(schema, profile, (profile.rows, len(arrow_schema)), stored[0], empty.count)
