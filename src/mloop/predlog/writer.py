"""``PredictionLog``: the request path hands records over; one writer thread appends them.

Durability works like Redis's ``appendfsync``, per endpoint (``set_durability``) or per call:

- ``always``: the future of ``submit`` resolves after the records are fsynced. Group commit: the
  writer drains everything queued, writes one batch per endpoint and fsyncs each file once, so
  one fsync acknowledges every request that arrived meanwhile.
- ``everysec`` (default): the future resolves when the records are queued; the writer hands them
  to the OS within milliseconds and fsyncs at most ~1 s later. A killed process loses only the
  records still queued (milliseconds' worth); a power loss up to ~1 s more.
- ``off``: like ``everysec`` without fsync; the OS flushes when it likes (Linux: ~30 s).

Backpressure: the queue holds at most ``max_queue`` records and, under ``everysec``, none that
has waited longer than ``max_lag_s`` (so a writer that falls behind cannot stretch the loss
window past the policy's second). A full queue makes ``submit`` wait up to ``timeout`` seconds
for room, then raise ``LogFull`` (the server answers 429), so nothing
is dropped silently. Only under ``off`` does an overflowing submit drop its records at once,
counted in ``stats()["dropped"]``: that policy already chose speed over completeness.

The writer only appends; converting sealed streams to Parquet and merging them runs on the
compactor's thread (``compaction``), so a rotation never stalls acknowledgements.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import itertools
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from mloop.errors import InvalidInput, MloopError
from mloop.ids import new_id
from mloop.plural import plural
from mloop.predlog.appender import EndpointLog, Rotation
from mloop.predlog.compaction import WRITERS_DIR, Compactor, MergePolicy
from mloop.predlog.paths import endpoint_folder
from mloop.predlog.records import build_batch, check_records

log = logging.getLogger(__name__)

DURABILITY = ("always", "everysec", "off")
DEFAULT_MAX_QUEUE = 65_536
MAX_BATCH_RECORDS = 16_384
TICK_S = 0.1


class LogFull(MloopError):
    """The log's queue stayed full past the wait: the caller should shed load (HTTP 429)."""

    headline = "prediction log full"
    exit_code = 1
    http_status = 429


class LogClosed(MloopError):
    headline = "prediction log closed"
    exit_code = 1
    http_status = 503


def check_durability(value: str) -> str:
    if value not in DURABILITY:
        raise InvalidInput(
            f"Log durability {value!r} is not one of {', '.join(DURABILITY)}; "
            "'everysec' is the default."
        )
    return value


@dataclass
class _Entry:
    endpoint: str
    records: Sequence[Mapping[str, Any]]
    policy: str
    future: Future[int] | None = None  # resolved by the writer (always, flush); else already done
    queued_at: float = 0.0


class PredictionLog:
    """Append prediction records per endpoint under ``folder`` (see ``folder_for``).

    Thread-safe; one instance per process. ``close()`` (or ``with``) seals the active segments.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        durability: str = "everysec",
        max_queue: int = DEFAULT_MAX_QUEUE,
        block_s: float = 0.1,
        max_lag_s: float = 0.5,
        segment_bytes: int = 32 << 20,
        segment_age_s: float = 300.0,
        fsync_every_s: float = 1.0,
        merge: MergePolicy | None = None,
        merge_every_s: float = 30.0,
    ) -> None:
        if max_queue < 1:
            raise InvalidInput(f"max_queue must be at least 1, not {max_queue}.")
        self.folder = Path(folder)
        self.durability = check_durability(durability)
        self.max_queue = max_queue
        self.block_s = block_s
        self.max_lag_s = max_lag_s
        self.segment_bytes = segment_bytes
        self.segment_age_s = segment_age_s
        self.fsync_every_s = fsync_every_s
        self.writer_id = new_id()
        (self.folder / WRITERS_DIR).mkdir(parents=True, exist_ok=True)
        # Held while this process lives: a recovering process leaves our streams alone.
        self._lock_path = self.folder / WRITERS_DIR / f"{self.writer_id}.lock"
        self._lock_fd = os.open(self._lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        self._sequence = itertools.count(1)
        self._lock = threading.Lock()
        self._not_empty = threading.Condition(self._lock)
        self._not_full = threading.Condition(self._lock)
        self._queue: deque[_Entry] = deque()
        self._depth = 0
        self._writing_since: float | None = None  # when the batch being written was queued
        self._endpoints: dict[str, EndpointLog] = {}
        self._closed = False
        self._stopping = False
        self.compactor = Compactor(
            self.folder,
            self.writer_id,
            self._new_uid,
            merge or MergePolicy(),
            merge_every_s=merge_every_s,
        )
        self._rotation = Rotation(
            self.folder,
            self._new_uid,
            self.compactor.sealed,
            segment_bytes,
            segment_age_s,
            fsync_every_s,
        )
        self._thread = threading.Thread(target=self._run, name="mloop-predlog-writer", daemon=True)
        self._thread.start()
        atexit.register(self.close)

    # -- the request side ------------------------------------------------------------------

    def set_durability(self, endpoint: str, durability: str | None) -> None:
        """The policy for ``endpoint`` from now on (None: the log's default)."""
        state = self._state(endpoint)
        state.durability = None if durability is None else check_durability(durability)

    def submit(
        self,
        endpoint: str,
        records: Sequence[Mapping[str, Any]],
        *,
        durability: str | None = None,
        timeout: float | None = None,
    ) -> Future[int]:
        """Queue ``records`` for ``endpoint``; the future gives how many were logged.

        It resolves after fsync under ``always``, at once otherwise (0 when ``off`` dropped them).
        Waits up to ``timeout`` (default ``block_s``) for room, then raises ``LogFull``; an async
        caller passes ``timeout=0`` so it never blocks its event loop. The records must not be
        changed after the call.
        """
        state = self._state(endpoint)
        policy = check_durability(durability or state.durability or self.durability)
        check_records(records)
        future: Future[int] = Future()
        count = len(records)
        if count == 0:
            future.set_result(0)
            return future
        with self._lock:
            if self._closed:
                raise LogClosed("The prediction log is closed; no more records are accepted.")
            if not self._room(count, policy):
                if policy == "off":
                    state.dropped += count
                    future.set_result(0)
                    return future
                deadline = time.monotonic() + (self.block_s if timeout is None else timeout)
                while not self._room(count, policy):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0 or self._closed:
                        raise LogFull(
                            f"The prediction log is full ({plural(self._depth, 'record')} queued, "
                            f"at most {self.max_queue:,}, the oldest for {self._lag():.1f} s); "
                            "retry in a moment."
                        )
                    self._not_full.wait(remaining)
            self._queue.append(
                _Entry(
                    endpoint,
                    records,
                    policy,
                    future if policy == "always" else None,
                    time.monotonic(),
                )
            )
            self._depth += count
            state.queued += count
            self._not_empty.notify()
        if policy != "always":
            future.set_result(count)
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Return once everything submitted before this call is written and fsynced."""
        future: Future[int] = Future()
        with self._lock:
            if self._closed and not self._thread.is_alive():
                return
            self._queue.append(_Entry("", (), "always", future, time.monotonic()))
            self._not_empty.notify()
        future.result(timeout)

    def stats(self) -> dict[str, Any]:
        """Queue depth, records written, dropped and failed: in total and per endpoint."""
        with self._lock:
            endpoints = {
                name: {
                    "queue_depth": s.queued,
                    "written": s.written,
                    "dropped": s.dropped,
                    "failed": s.failed,
                    "fsyncs": s.fsyncs,
                    "durability": s.durability or self.durability,
                }
                for name, s in sorted(self._endpoints.items())
            }
            return {
                "queue_depth": self._depth,
                "max_queue": self.max_queue,
                "written": sum(e["written"] for e in endpoints.values()),
                "dropped": sum(e["dropped"] for e in endpoints.values()),
                "failed": sum(e["failed"] for e in endpoints.values()),
                "durability": self.durability,
                "errors": sum(s.errors for s in self._endpoints.values()),
                "compaction_errors": self.compactor.errors,
                "endpoints": endpoints,
            }

    def close(self, timeout: float | None = None) -> None:
        """Write what is queued, seal every segment, finish converting them; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._stopping = True
            self._not_empty.notify_all()
            self._not_full.notify_all()
        atexit.unregister(self.close)
        self._thread.join(timeout)
        self.compactor.stop(timeout)
        os.close(self._lock_fd)
        if not self._thread.is_alive():
            with contextlib.suppress(FileNotFoundError):
                self._lock_path.unlink()

    def __enter__(self) -> PredictionLog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _lag(self) -> float:
        """How long the oldest record not yet handed to the OS has waited (lock held)."""
        oldest = self._writing_since
        if self._queue and (oldest is None or self._queue[0].queued_at < oldest):
            oldest = self._queue[0].queued_at
        return 0.0 if oldest is None else time.monotonic() - oldest

    def _room(self, count: int, policy: str) -> bool:
        """Whether ``count`` more records may queue (lock held).

        The bound is on records, and under ``everysec`` also on age: an ``everysec`` record is
        acknowledged when queued, so a writer that falls behind (a slow disk, a starved CPU)
        must slow the producers down, or a crash would lose more than the policy's second.
        A submit larger than the whole queue still goes in when the queue is empty.
        """
        if policy == "everysec" and self._lag() > self.max_lag_s:
            return False
        return self._depth == 0 or self._depth + count <= self.max_queue

    def _state(self, endpoint: str) -> EndpointLog:
        state = self._endpoints.get(endpoint)
        if state is None:
            folder = endpoint_folder(self.folder, endpoint)
            with self._lock:
                state = self._endpoints.setdefault(
                    endpoint, EndpointLog(endpoint, folder, self._rotation)
                )
        return state

    def _new_uid(self) -> str:
        return f"{self.writer_id}-{next(self._sequence):06d}"

    # -- the writer thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._queue and not self._stopping:
                    self._not_empty.wait(TICK_S)
                entries = self._take()
                done = self._stopping and not self._queue
            if entries:
                self._write(entries)
                with self._lock:
                    self._writing_since = None
                    self._not_full.notify_all()
            self._housekeep(final=done)
            if done:
                return

    def _take(self) -> list[_Entry]:
        """Everything queued, up to one batch's worth of records (called with the lock held)."""
        taken: list[_Entry] = []
        rows = 0
        while self._queue and (
            not taken or rows + len(self._queue[0].records) <= MAX_BATCH_RECORDS
        ):
            entry = self._queue.popleft()
            taken.append(entry)
            rows += len(entry.records)
            if entry.endpoint:
                self._endpoints[entry.endpoint].queued -= len(entry.records)
        if taken:
            self._writing_since = min(e.queued_at for e in taken)
            self._depth -= rows
            self._not_full.notify_all()
        return taken

    def _write(self, entries: list[_Entry]) -> None:
        groups: dict[str, list[_Entry]] = {}
        flushes: list[Future[int]] = []
        for entry in entries:
            if entry.endpoint:
                groups.setdefault(entry.endpoint, []).append(entry)
            elif entry.future is not None:
                flushes.append(entry.future)
        for name, group in groups.items():
            self._write_group(self._endpoints[name], group)
        for state in self._endpoints.values():  # group commit: one fsync per file
            if state.futures or (flushes and state.segment is not None):
                state.sync()
        for future in flushes:
            future.set_result(0)

    def _write_group(self, state: EndpointLog, group: list[_Entry]) -> None:
        try:
            state.append(build_batch([r for e in group for r in e.records]))
        except Exception:
            if len(group) == 1:
                state.failed_write(len(group[0].records), group[0].future)
                return
            for entry in group:  # one bad submit must not take the others down with it
                try:
                    state.append(build_batch(entry.records))
                except Exception:
                    state.failed_write(len(entry.records), entry.future)
                else:
                    state.written_ok(len(entry.records), entry.future, entry.policy)
            return
        for entry in group:
            state.written_ok(len(entry.records), entry.future, entry.policy)

    def _housekeep(self, *, final: bool) -> None:
        now = time.monotonic()
        for state in list(self._endpoints.values()):
            state.tick(now, final=final)
