"""Micro-batching: concurrent requests to one model scored in one call, on the model's own thread.

One ``Batcher`` per loaded model (a canary or a shadow has its own). Requests join a queue; a
worker task on the event loop takes them as one batch when ``max_rows`` rows are waiting or
``max_wait_ms`` after the first of them arrived, whichever comes first, and scores the batch on a
dedicated thread, so scoring never blocks the event loop and one model's slow predict never
delays another's. While a batch is being scored, new requests gather for the next one; once the
thread is free they go as soon as their own wait bound is up (no request waits longer than
``max_wait_ms`` for a batch to form; the rest is queueing behind the batch in progress, which
batching shortens). The wait is only spent when traffic is concurrent: while each batch holds a
single request (one client, or an idle model), the next request is scored at once, so batching
costs a lone caller nothing; once requests share a batch, the next one waits for company again. A request is never split: one bigger than ``max_rows`` is a batch of its own.
``max_wait_ms = 0`` or ``max_rows = 1`` turns batching off (each request scored alone, in order).

Every request gets back exactly its own rows' answers (``Scores.take``), and a row that fails
fails alone (``ModelRunner.score``). ``depth`` counts requests accepted and not yet answered;
past ``capacity`` ``try_submit`` refuses at once with 429 ``overloaded`` (never a hang), which
bounds the memory a flood of clients can take. ``on_batch`` receives each batch's row count,
for the batch-size histogram.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import numpy as np

from mloop.serving.codec import Table
from mloop.serving.errors import ApiError
from mloop.serving.inputs import Column
from mloop.serving.scores import Scores

T = TypeVar("T")
RETRY_AFTER_S = 1


class Scorer(Protocol):
    def score(self, columns: Mapping[str, Column], n_rows: int) -> Scores: ...


@dataclass
class _Request:
    columns: Mapping[str, Column]
    rows: int
    future: asyncio.Future[Scores]
    arrived: float = field(default_factory=time.monotonic)


def merge(parts: list[tuple[Mapping[str, Column], int]]) -> tuple[dict[str, Column], int]:
    """Several requests' columns as one table (a column a request lacks is missing in its rows)."""
    if len(parts) == 1:
        columns, rows = parts[0]
        return dict(columns), rows
    names: dict[str, None] = {}
    for columns, _ in parts:
        names.update(dict.fromkeys(columns))
    merged: dict[str, Column] = {}
    for name in names:
        pieces = [columns.get(name, [None] * rows) for columns, rows in parts]
        arrays = [p for p in pieces if isinstance(p, np.ndarray)]
        if len(arrays) == len(pieces) and len({a.dtype.kind for a in arrays}) == 1:
            merged[name] = np.concatenate(arrays)
            continue
        values: list[Any] = []
        for piece in pieces:
            values.extend(piece.tolist() if isinstance(piece, np.ndarray) else piece)
        merged[name] = values
    return merged, sum(rows for _, rows in parts)


class Batcher:
    """Gathers concurrent requests for one scorer into micro-batches (use from one event loop)."""

    def __init__(
        self,
        scorer: Scorer,
        *,
        max_rows: int = 64,
        max_wait_ms: float = 2.0,
        capacity: int = 256,
        name: str = "model",
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        if max_rows < 1 or max_wait_ms < 0 or capacity < 1:
            raise ValueError("max_rows and capacity must be 1 or more, max_wait_ms 0 or more")
        self.scorer = scorer
        self.max_rows = max_rows
        self.max_wait = max_wait_ms / 1000.0
        self.capacity = capacity
        self.name = name
        self.on_batch = on_batch
        self.batching = max_rows > 1 and max_wait_ms > 0
        self.batches = 0  # batches scored
        self._last_batch_requests = 0  # >1: callers are concurrent, so a short wait fills batches
        self.rows_scored = 0
        self._queue: deque[_Request] = deque()
        self._queued_rows = 0
        self._depth = 0
        self._arrived: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"mloop-score-{name}")

    def __repr__(self) -> str:
        return f"Batcher({self.name}, depth {self._depth}/{self.capacity}, max_rows {self.max_rows}, max_wait {self.max_wait * 1000:g} ms)"

    @property
    def depth(self) -> int:
        """Requests accepted and not yet answered (queued or being scored)."""
        return self._depth

    @property
    def full(self) -> bool:
        return self._depth >= self.capacity

    def stats(self) -> dict[str, Any]:
        return {
            "depth": self._depth,
            "capacity": self.capacity,
            "batches": self.batches,
            "rows": self.rows_scored,
            "max_rows": self.max_rows,
            "max_wait_ms": self.max_wait * 1000,
        }

    # --- submitting ----------------------------------------------------------------------------

    def try_submit(self, columns: Mapping[str, Column], n_rows: int) -> asyncio.Future[Scores]:
        """Queue a request; its future resolves to its rows' ``Scores``.

        Raises at once: 429 ``overloaded`` (with ``Retry-After``) when ``capacity`` requests are
        in flight, 503 ``not_ready`` after ``close``. Call from the event loop's thread.
        """
        if self._closed:
            raise ApiError(503, "not_ready", f"{self.name} is shutting down; retry shortly.")
        if self._depth >= self.capacity:
            raise ApiError(
                429,
                "overloaded",
                f"{self.name} has {self._depth} requests in flight, its limit; retry after "
                f"{RETRY_AFTER_S} s.",
                {"in_flight": self._depth, "limit": self.capacity},
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        loop = asyncio.get_running_loop()
        if self._worker is None or self._worker.done():
            self._arrived = asyncio.Event()
            self._worker = loop.create_task(self._work(), name=f"mloop-batcher-{self.name}")
        future: asyncio.Future[Scores] = loop.create_future()
        self._queue.append(_Request(columns, n_rows, future))
        self._queued_rows += n_rows
        self._depth += 1
        future.add_done_callback(self._finished)
        assert self._arrived is not None
        self._arrived.set()
        return future

    async def submit(self, columns: Mapping[str, Column], n_rows: int) -> Scores:
        """``try_submit`` and wait for the answer."""
        return await self.try_submit(columns, n_rows)

    async def submit_table(self, table: Table) -> Scores:
        return await self.try_submit(table.columns, table.n_rows)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` on this model's scoring thread (loading, warming), in turn with batches."""
        return await asyncio.get_running_loop().run_in_executor(self._thread, function, *args)

    def _finished(self, _future: asyncio.Future[Scores]) -> None:
        self._depth -= 1

    # --- the worker ----------------------------------------------------------------------------

    def _take(self) -> list[_Request]:
        """The next batch: queued requests in order, up to ``max_rows`` rows (at least one request)."""
        batch: list[_Request] = []
        rows = 0
        while self._queue:
            request = self._queue[0]
            if request.future.done():  # cancelled while waiting (client gone, timeout)
                self._queue.popleft()
                self._queued_rows -= request.rows
                continue
            if batch and (not self.batching or rows + request.rows > self.max_rows):
                break
            self._queue.popleft()
            self._queued_rows -= request.rows
            batch.append(request)
            rows += request.rows
        return batch

    async def _gather(self) -> None:
        """Wait until the oldest queued request's wait bound is up, or a batch is full."""
        assert self._arrived is not None
        while self._queue and self._queued_rows < self.max_rows:
            remaining = self._queue[0].arrived + self.max_wait - time.monotonic()
            if remaining <= 0:
                return
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    def _score(self, batch: list[tuple[Mapping[str, Column], int]]) -> Scores:
        columns, rows = merge(batch)
        return self.scorer.score(columns, rows)

    async def _work(self) -> None:
        assert self._arrived is not None
        loop = asyncio.get_running_loop()
        while not self._closed:
            if not self._queue:
                self._arrived.clear()
                await self._arrived.wait()
                continue
            if self.batching and self._last_batch_requests > 1:
                await self._gather()
            batch = self._take()
            if not batch:
                continue
            self._last_batch_requests = len(batch)
            try:
                scores = await loop.run_in_executor(
                    self._thread, self._score, [(r.columns, r.rows) for r in batch]
                )
            except asyncio.CancelledError:  # closed without draining: nobody is left waiting
                self._fail(batch, ApiError(503, "not_ready", f"{self.name} was unloaded; retry."))
                raise
            except Exception as error:  # the runner answers per row; this is a bug, not a row
                failure = ApiError(
                    500, "internal", f"Scoring with {self.name} failed ({type(error).__name__})."
                )
                self._fail(batch, failure)
                continue
            self.batches += 1
            total = len(scores)
            self.rows_scored += total
            if self.on_batch is not None:
                with contextlib.suppress(Exception):  # a metrics hook must not stop scoring
                    self.on_batch(total)
            start = 0
            for request in batch:
                share = scores.take(start, start + request.rows)
                start += request.rows
                if not request.future.done():
                    request.future.set_result(share)

    @staticmethod
    def _fail(batch: list[_Request], error: ApiError) -> None:
        for request in batch:
            if not request.future.done():
                request.future.set_exception(error)

    # --- closing -------------------------------------------------------------------------------

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until every accepted request is answered (a model being swapped out drains)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._depth > 0:
            if deadline is not None and time.monotonic() >= deadline:
                return
            await asyncio.sleep(0.005)

    async def aclose(self, *, drain: bool = True, timeout: float | None = 10.0) -> None:
        """Stop accepting, answer (``drain``) or refuse (503) what is queued, free the thread."""
        if drain:
            await self.drain(timeout)
        self._closed = True
        refused = ApiError(503, "not_ready", f"{self.name} was unloaded; retry.")
        while self._queue:
            request = self._queue.popleft()
            if not request.future.done():
                request.future.set_exception(refused)
        if self._worker is not None and not self._worker.done():
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        self._thread.shutdown(wait=False, cancel_futures=True)
