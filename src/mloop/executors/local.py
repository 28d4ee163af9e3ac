"""The default executor: a process pool on this machine.

Processes, not threads: steps and trials are CPU-bound Python (fitting, feature code) that the GIL
would serialise. Workers start with ``forkserver`` so a parent holding DuckDB or BLAS threads never
forks a half-locked copy of itself; a callable must therefore be importable by reference (a
module-level function) or picklable by value. ``warm`` has the fork server import what the
calls will need (scikit-learn for a sweep's trials) while the caller prepares their inputs, so
each worker is forked ready instead of importing it all again.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import forkserver
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
        with _main_without_a_missing_file():  # workers start inside submit
            return self._pool.submit(fn, *args, **kwargs)

    def warm(self, modules: Sequence[str]) -> None:
        """Start the fork server now, importing ``modules`` once, while the caller goes on with
        its own work; every worker forked from it starts with them imported. Returns at once.

        The preload list is the process's fork server's, so it applies when this is the first
        pool of the process (a command's); a fork server already running keeps its own."""
        if self._pool is not None:
            return
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(modules))
        forkserver.ensure_running()

    def stop(self) -> None:
        """Cancel what has not started and terminate the workers: SIGTERM, which a trial's
        run (``mloop.tracking``) turns into ending itself KILLED."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        # Python 3.14 has ProcessPoolExecutor.terminate_workers; before it, the pool's own map
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        for process in processes:
            process.join(timeout=10)

    def shutdown(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


@contextmanager
def _main_without_a_missing_file() -> Iterator[None]:
    """A script read from stdin (``python - <<EOF``) has ``__main__.__file__ == "<stdin>"``;
    each new worker would try to run that path as its ``__main__`` and die before its first
    call (BrokenProcessPool). Calls reach the workers by reference to importable modules, so the
    workers start without the caller's ``__main__`` instead, as they do for ``python -c``."""
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    if main is None or not isinstance(path, str) or os.path.exists(path):
        yield
        return
    del main.__file__
    try:
        yield
    finally:
        main.__file__ = path


@contextmanager
def open_local_executor(settings: ExecutorSettings) -> Iterator[LocalExecutor]:
    executor = LocalExecutor(settings.max_workers)
    try:
        yield executor
    finally:
        executor.shutdown()
