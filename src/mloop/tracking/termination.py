"""How a process that is told to stop ends its runs: KILLED, not FAILED.

SIGTERM and SIGHUP (``kill``, ``timeout``, ``docker stop``, Kubernetes, Slurm, a closed terminal)
and Ctrl-C stop a run that did nothing wrong. Both the tracking API and the ``mloop`` command raise
``Terminated`` for them so ``with`` blocks and ``finally`` unwind, and both end the run with
``ended_status``, so a run is KILLED whichever of them started it.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mloop.tracking.records import Status

TERMINATING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Terminated(SystemExit):
    """Raised in the main thread by SIGTERM or SIGHUP while a run is open: ends the run KILLED.

    A ``SystemExit`` with code 128 + the signal number (143 for SIGTERM, as a shell reports it),
    so an uncaught one exits quietly with that code after ``with`` blocks and ``finally`` ran.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(128 + signum)
        self.signal_name = signal.Signals(signum).name

    def __str__(self) -> str:
        return f"received {self.signal_name}"


def ended_status(exc: BaseException) -> Status:
    """KILLED for a stop (Ctrl-C, SIGTERM, SIGHUP), FAILED for anything the run raised itself."""
    return "KILLED" if isinstance(exc, KeyboardInterrupt | Terminated) else "FAILED"
