"""The slow part of a run's environment, captured in a thread and merged in when ready.

Git takes two subprocesses, 10-30 ms, which after the package list was most of ``start_run``. A sweep of short runs paid it every time, though
nothing in a training loop needs those fields. ``DeferredEnvironment`` computes them in a daemon
thread and merges them into the run's stored environment as soon as they are known; ``settle()``
(called by ``flush()``, so before a model is registered from the run, whose lineage quotes the git
commit, and when the run ends) waits for that, and retries the write if the thread's failed. The
fields are descriptive: a store error writing them never fails the run.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

from mloop.store import Store
from mloop.tracking import runs
from mloop.tracking.environment import GIT_TIMEOUT_S, slow_fields

# Two git calls with their own timeouts, and some slack for a loaded machine.
SETTLE_TIMEOUT_S = 2 * GIT_TIMEOUT_S + 2.0


class DeferredEnvironment:
    def __init__(self, store: Store, run_id: str, cwd: Path) -> None:
        self._store = store
        self._run_id = run_id
        self._cwd = cwd
        self._fields: dict[str, Any] | None = None
        self._written = False
        self._lock = threading.Lock()  # one write, by the thread or by settle()
        self._thread = threading.Thread(target=self._capture, name="mloop-environment", daemon=True)
        self._thread.start()

    def _capture(self) -> None:
        try:
            self._fields = slow_fields(self._cwd)
            self._write()
        except Exception:  # settle() retries the write from the caller's thread
            return

    def _write(self) -> None:
        with self._lock:
            if self._written or self._fields is None:
                return
            runs.merge_environment(self._store, self._run_id, self._fields)
            self._written = True

    def settle(self) -> None:
        """Wait until the fields are stored (best effort: never raises)."""
        if self._written:
            return
        self._thread.join(SETTLE_TIMEOUT_S)
        with contextlib.suppress(Exception):
            self._write()
