"""One endpoint's side of the writer thread: its live segment, its counters, its pending syncs.

Only the writer thread calls the methods; ``PredictionLog.stats`` reads the counters.
A segment is rotated (sealed and handed to the compactor) when it reaches ``segment_bytes``,
when it is ``segment_age_s`` old, when a batch's columns do not fit it, and when the log closes.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from mloop.errors import MloopError
from mloop.plural import plural
from mloop.predlog.records import conform, widen
from mloop.predlog.segments import ActiveSegment, fsync_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Rotation:
    """When segments are sealed and synced; shared by every endpoint of one log."""

    root: Path
    new_uid: Callable[[], str]
    sealed: Callable[[Path], None]  # hands a sealed segment to the compactor
    segment_bytes: int
    segment_age_s: float
    fsync_every_s: float


@dataclass
class EndpointLog:
    name: str
    folder: Path
    rotation: Rotation
    durability: str | None = None  # None: the log's default
    queued: int = 0
    written: int = 0
    dropped: int = 0
    failed: int = 0
    fsyncs: int = 0
    errors: int = 0
    segment: ActiveSegment | None = None
    schema: pa.Schema | None = None  # the last segment's, so the next one keeps its columns
    opened: float = 0.0
    last_sync: float = 0.0
    sync_due: bool = False  # everysec records written since the last sync
    futures: list[tuple[Future[int], int]] = field(default_factory=list)  # waiting for a sync

    def written_ok(self, count: int, future: Future[int] | None, policy: str) -> None:
        self.written += count
        if future is not None:
            self.futures.append((future, count))
        elif policy == "everysec":
            self.sync_due = True

    def failed_write(self, count: int, future: Future[int] | None) -> None:
        self.failed += count
        self.errors += 1
        log.exception("prediction log could not write %d records of %s", count, self.name)
        if future is not None and not future.done():
            future.set_exception(
                MloopError(
                    f"The prediction log could not write {plural(count, 'record')}; "
                    "see the server log."
                )
            )

    def append(self, batch: pa.RecordBatch) -> None:
        """Append ``batch`` to the live segment, starting a new one when its columns do not fit."""
        segment = self.segment
        if segment is not None:
            fitted = conform(batch, segment.schema)
            if fitted is None:
                self.rotate()
                segment = None
            else:
                batch = fitted
        if segment is None:
            schema = widen(self.schema, batch.schema)
            fitted = conform(batch, schema)
            assert fitted is not None, "a batch always fits the schema widened by it"
            batch = fitted
            if not self.folder.exists():
                self.folder.mkdir(parents=True, exist_ok=True)
                fsync_dir(self.rotation.root)
            now_ms = int(dt.datetime.now(dt.UTC).timestamp() * 1000)
            segment = ActiveSegment(self.folder, now_ms, self.rotation.new_uid(), schema)
            self.segment, self.schema, self.opened = segment, schema, time.monotonic()
        try:
            segment.append(batch)
        except Exception:
            segment.abandon()  # its complete batches stay readable; the next write starts afresh
            self.segment = None
            self.rotation.sealed(segment.path)
            raise
        if segment.size >= self.rotation.segment_bytes:
            self.rotate()

    def sync(self) -> None:
        """fsync the live segment and acknowledge the ``always`` records waiting for it."""
        futures, self.futures = self.futures, []
        try:
            if self.segment is not None and self.segment.sync():
                self.fsyncs += 1
        except Exception as exc:
            self.errors += 1
            log.exception("prediction log could not fsync %s", self.name)
            for future, _ in futures:
                future.set_exception(exc)
            return
        self.last_sync = time.monotonic()
        self.sync_due = False
        for future, count in futures:
            future.set_result(count)

    def rotate(self) -> None:
        """Seal the live segment (its ``always`` waiters are acknowledged by the seal's fsync)."""
        segment, self.segment = self.segment, None
        if segment is None:
            return
        futures, self.futures = self.futures, []
        try:
            segment.seal()
            self.fsyncs += 1
        except Exception as exc:
            self.errors += 1
            log.exception("prediction log could not seal %s", segment.path)
            segment.abandon()
            for future, _ in futures:
                future.set_exception(exc)
        else:
            for future, count in futures:
                future.set_result(count)
        self.sync_due = False
        self.rotation.sealed(segment.path)

    def tick(self, now: float, *, final: bool) -> None:
        """Rotate an old segment, or fsync one that is due under ``everysec``."""
        if self.segment is None:
            return
        if final or now - self.opened >= self.rotation.segment_age_s:
            self.rotate()
        elif self.sync_due and now - self.last_sync >= self.rotation.fsync_every_s:
            self.sync()
