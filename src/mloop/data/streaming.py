"""A big CSV snapshotted in one read: parsed, typed, profiled, hashed and stored in one pass.

Arrow's multithreaded CSV reader pulls the file through a tee: each block it reads is also handed
to the artifact store's ``put_stream`` (in a thread, through a short queue), which hashes and
writes it. So the file is read once, memory is bounded by a few blocks, and the profile sees
batches, never the whole table. Files this cannot take (small, compressed, with text columns to
refine, …) return ``None`` and go through ``read_arrow``.
"""

from __future__ import annotations

import queue
import threading
from pathlib import Path
from typing import BinaryIO, NamedTuple

from mloop.artifacts import ArtifactStore, BlobRef
from mloop.data.io import STREAM_FROM, NeedsWholeRead, stream_csv
from mloop.data.profile import DatasetProfile, infer_and_profile, sketch_rate
from mloop.data.schema import Schema

_QUEUED_BLOCKS = 4


class _Abort(Exception):
    """The parse gave up: the store must drop what it wrote."""


class _Tee:
    """A file the CSV reader reads, whose every block also goes to ``sink``."""

    def __init__(self, source: BinaryIO, sink: queue.Queue[bytes | BaseException]) -> None:
        self.source = source
        self.sink = sink
        self.done = False
        self.closed = False

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        if not self.done:
            self.sink.put(data)
            self.done = not data
        return data

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def close(self) -> None:
        self.closed = True


class _Drain:
    """What ``put_stream`` reads: the tee's blocks in order, then the end (or the abort)."""

    def __init__(self, source: queue.Queue[bytes | BaseException]) -> None:
        self.source = source

    def read(self, size: int = -1, /) -> bytes:
        item = self.source.get()
        if isinstance(item, BaseException):
            raise item
        return item


class Snapshot(NamedTuple):
    schema: Schema
    profile: DatasetProfile
    shape: tuple[int, int]
    blob: BlobRef


def snapshot_csv(path: Path, artifacts: ArtifactStore) -> Snapshot | None:
    """Schema, profile, shape and stored blob of a big CSV in one read, or ``None`` when the
    file is small or needs the whole-file reader (nothing is stored then)."""
    size = path.stat().st_size
    if size < STREAM_FROM:
        return None
    blocks: queue.Queue[bytes | BaseException] = queue.Queue(maxsize=_QUEUED_BLOCKS)
    stored: list[BlobRef] = []
    failed: list[BaseException] = []

    def store() -> None:
        try:
            stored.append(artifacts.put_stream(_Drain(blocks)))
        except _Abort:
            return
        except BaseException as exc:  # re-raised in the caller's thread
            failed.append(exc)
            while True:  # unblock the reader until it ends
                item = blocks.get()
                if not isinstance(item, bytes) or not item:
                    break

    with path.open("rb") as source:
        tee = _Tee(source, blocks)
        stream = stream_csv(path, tee)
        if stream is None:
            return None
        writer = threading.Thread(target=store, name="mloop-store", daemon=True)
        writer.start()
        arrow_schema, batches = stream
        try:
            schema, profile = infer_and_profile(
                batches, arrow_schema, sample_rate=sketch_rate(size, len(arrow_schema))
            )
            while not tee.done:  # the reader may stop short of the end it has not asked for
                tee.read(16 << 20)
        except NeedsWholeRead:
            profile = None
        except BaseException:
            blocks.put(_Abort())
            writer.join()
            raise
        if profile is None or profile.rows == 0:
            if not tee.done:
                blocks.put(_Abort())
            writer.join()
            return None  # the whole-file reader says what is wrong, or refines the types
        writer.join()
    if failed:
        raise failed[0]
    return Snapshot(schema, profile, (profile.rows, len(arrow_schema)), stored[0])
