"""A held lease, renewed by a heartbeat thread while the job's work runs in the caller's thread.

The work checks ``held`` between steps: a lease that could not be renewed (the store was away
longer than the lease, or another agent took the job over after it lapsed) stops the work at the
next step instead of letting two agents finish one job.
"""

from __future__ import annotations

import threading
from types import TracebackType

from mloop.errors import MloopError
from mloop.loop import jobs
from mloop.store import Store


class LeaseLost(MloopError):
    exit_code = 1


class Lease:
    def __init__(
        self, store: Store, job_id: str, *, owner: str, lease: float, heartbeat: float
    ) -> None:
        self.store = store
        self.job_id = job_id
        self.owner = owner
        self.lease = lease
        self.heartbeat = heartbeat
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"lease-{job_id}", daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat):
            try:
                if not jobs.renew(self.store, self.job_id, owner=self.owner, lease=self.lease):
                    self._lost.set()
                    return
            except Exception:  # the store is away for a moment: try again next beat
                continue

    @property
    def held(self) -> bool:
        return not self._lost.is_set()

    def check(self) -> None:
        """Raise ``LeaseLost`` when the lease is no longer this agent's."""
        if self._lost.is_set():
            raise LeaseLost(
                f"Job {self.job_id}'s lease lapsed and was taken over; this agent stops its work."
            )

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(timeout=self.heartbeat + 5)
