"""The batching metric writer: ``add`` appends a point to a list; a thread writes the batches.

A training loop calling ``log_metric`` pays for a lock and five appends (well under a
microsecond), never for a database round trip: MLflow's synchronous ``log_metric`` costs ~9 ms a
call on SQLite (one transaction per point), which is most of a small model's epoch. The thread
wakes every ``interval_s``, or as soon as ``max_batch`` rows are waiting, and writes everything
pending in one transaction (multi-row INSERTs). ``max_batch`` is large (20,000) on purpose: a
thread woken in the middle of a burst of calls competes with the loop for the GIL, which costs
both more than writing the burst at once when the interval or the end comes.

Guarantees:

- ``flush()`` returns once every point added before it is committed (writes are serialised by a
  lock, so a batch the thread took just before is committed too).
- ``close()`` stops the thread and writes the rest; it is idempotent.
- An error in the thread is never swallowed: the batch goes back to the front of the queue (so a
  transient "database is locked" loses nothing), the thread pauses, and the error is raised by the
  next ``add``, ``flush()`` or ``close()``; after that the thread retries.
- Memory is bounded: past ``max_pending`` waiting rows (the store is that far behind), ``add``
  writes the backlog itself, so the caller slows down instead of the process growing forever.
"""

from __future__ import annotations

import threading
from typing import Any

from mloop.store import Store
from mloop.tracking.records import NAN_TEXT
from mloop.tracking.runs import write_metric_values

# Values a point takes in the pending list: run_id, key, step, timestamp_ms, value (encoded).
_FIELDS = 5


class MetricWriter:
    def __init__(
        self,
        store: Store,
        *,
        interval_s: float = 0.2,
        max_batch: int = 20_000,
        max_pending: int = 1_000_000,
    ) -> None:
        self._store = store
        self._sqlite = store.dialect == "sqlite"
        self._interval = interval_s
        self._max_batch = max_batch
        self._max_pending = max_pending
        # The points waiting, laid end to end (_FIELDS values each) rather than one tuple each:
        # a tuple is an object the cyclic garbage collector tracks, so 10,000 points would make
        # it run about fifteen times, and once a full collection of the whole process (tens of
        # milliseconds with a data stack imported, more beside a model); ints, floats and the
        # caller's strings are not tracked. The writer takes the list whole (a swap).
        self._pending: list[Any] = []
        self._lock = threading.Lock()  # guards _pending: held for the appends or a swap, never I/O
        self._write_lock = threading.Lock()  # one batch in flight at a time
        self._wake = threading.Event()
        self._closed = False
        self._error: BaseException | None = None
        self._written = 0
        self._thread = threading.Thread(target=self._loop, name="mloop-metric-writer", daemon=True)
        self._thread.start()

    @property
    def written(self) -> int:
        """Points committed so far."""
        return self._written

    @property
    def pending(self) -> int:
        return len(self._pending) // _FIELDS

    def add(self, run_id: str, key: str, value: float, step: int, timestamp_ms: int) -> None:
        """Queue one point; the caller has checked the key and that ``value`` is a float."""
        if self._error is not None or self._closed:
            self._refuse()
        stored: Any = NAN_TEXT if value != value and self._sqlite else value  # encode_metric
        with self._lock:
            pending = self._pending
            pending.append(run_id)
            pending.append(key)
            pending.append(step)
            pending.append(timestamp_ms)
            pending.append(stored)
            waiting = len(pending)
        if waiting >= self._max_batch * _FIELDS:
            if waiting >= self._max_pending * _FIELDS:
                self.flush()
            else:
                self._wake.set()

    def _refuse(self) -> None:
        self._raise()
        if self._closed:
            raise RuntimeError("This MetricWriter is closed; metrics can no longer be added.")

    def _write_pending(self) -> None:
        with self._write_lock:
            with self._lock:
                batch, self._pending = self._pending, []
            if not batch:
                return
            try:
                write_metric_values(self._store, batch)
            except BaseException:
                with self._lock:  # keep the points: a later flush retries them
                    self._pending[:0] = batch
                raise
            self._written += len(batch) // _FIELDS

    def _loop(self) -> None:
        while True:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._closed:
                return  # close() writes the rest from the caller's thread
            if self._error is not None:
                continue  # wait until the caller has seen it; then retry the batch
            try:
                self._write_pending()
            except BaseException as exc:  # raised to the caller by add/flush/close
                self._error = exc

    def _raise(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            raise error

    def flush(self) -> None:
        """Commit everything added so far; raises the error of this or an earlier failed write."""
        error, self._error = self._error, None
        self._write_pending()
        if error is not None:
            raise error

    def close(self) -> None:
        """Stop the thread and commit the rest; raises like ``flush()``. Idempotent."""
        if not self._closed:
            self._closed = True
            self._wake.set()
            self._thread.join()
        self.flush()
