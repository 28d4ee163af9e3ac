"""The default executor: a process pool on this machine.

Processes, not threads: steps and trials are CPU-bound Python (fitting, feature code) that the GIL
would serialise. Workers start with ``forkserver`` so a parent holding DuckDB or BLAS threads never
forks a half-locked copy of itself; a callable must therefore be importable by reference (a
module-level function) or picklable by value.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, TypeVar

if TYPE_CHECKING:
    from mloop.executors import ExecutorSettings

T = TypeVar("T")


class LocalExecutor:
    @property
    def kind(self) -> Literal["local"]:
        return "local"

    def __init__(self, max_workers: int | None = None) -> None:
        self._workers = max_workers or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    @property
    def parallelism(self) -> int:
        return self._workers

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self._pool is None:  # started on first use: a fully cached pipeline starts no process
            self._pool = ProcessPoolExecutor(
                max_workers=self._workers, mp_context=multiprocessing.get_context("forkserver")
            )
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@contextmanager
def open_local_executor(settings: ExecutorSettings) -> Iterator[LocalExecutor]:
    executor = LocalExecutor(settings.max_workers)
    try:
        yield executor
    finally:
        executor.shutdown()
