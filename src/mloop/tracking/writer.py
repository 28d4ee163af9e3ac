"""The batching metric writer: ``add`` appends a tuple to a list; a thread writes the batches.

A training loop calling ``log_metric`` pays for an append to a deque (well under a microsecond), never
for a database round trip: MLflow's synchronous ``log_metric`` costs ~9 ms a call on SQLite (one
transaction per point), which is most of a small model's epoch. The thread wakes every
``interval_s``, or as soon as ``max_batch`` rows are waiting, and writes everything pending with one
``executemany`` in one transaction.

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
from collections import deque
from typing import Any

from mloop.store import Store
from mloop.tracking.records import NAN_TEXT
from mloop.tracking.runs import write_metric_tuples

Row = tuple[str, str, int, int, Any]  # run_id, key, step, timestamp_ms, value (encoded)


class MetricWriter:
    def __init__(
        self,
        store: Store,
        *,
        interval_s: float = 0.2,
        max_batch: int = 5_000,
        max_pending: int = 1_000_000,
    ) -> None:
        self._store = store
        self._sqlite = store.dialect == "sqlite"
        self._interval = interval_s
        self._max_batch = max_batch
        self._max_pending = max_pending
        # Appended by callers and popped by the writer without a lock: a deque's append and
        # popleft are atomic, and a lock per point costs as much as the rest of ``add``.
        self._pending: deque[Row] = deque()
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
        return len(self._pending)

    def add(self, run_id: str, key: str, value: float, step: int, timestamp_ms: int) -> None:
        """Queue one point; the caller has checked the key and that ``value`` is a float."""
        if self._error is not None or self._closed:
            self._refuse()
        stored: Any = NAN_TEXT if value != value and self._sqlite else value  # encode_metric
        pending = self._pending
        pending.append((run_id, key, step, timestamp_ms, stored))
        if len(pending) >= self._max_batch:
            if len(pending) >= self._max_pending:
                self.flush()
            else:
                self._wake.set()

    def _refuse(self) -> None:
        self._raise()
        if self._closed:
            raise RuntimeError("This MetricWriter is closed; metrics can no longer be added.")

    def _write_pending(self) -> None:
        with self._write_lock:
            pending = self._pending
            # popleft, not a swap of the deque: a thread appending meanwhile may hold the old one.
            batch = [pending.popleft() for _ in range(len(pending))]
            if not batch:
                return
            try:
                write_metric_tuples(self._store, batch)
            except BaseException:
                pending.extendleft(reversed(batch))  # keep the points: a later flush retries them
                raise
            self._written += len(batch)

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
