"""``with start_run(experiment="churn") as run:``: the tracking API for training scripts.

A thin edge over the services in ``runs.py``:

- The current run lives in a ``ContextVar``, not a module global: ``start_run`` makes the new run
  current and ``end`` restores the one before it, so nested runs unwind correctly (a nested run is
  tagged ``mloop.parent_run``). A new thread starts with no current run (threads do not inherit
  context variables); an asyncio task sees the run that was current when it was created.
- Metrics go through the batching ``MetricWriter``: ``log_metric`` queues a point in about a
  microsecond and never waits on the store. Params, tags, artifacts and inputs are written at once.
- A run that raises ends FAILED with ``"{type}: {message}"`` and the last traceback frames in
  ``runs.error``, then the exception propagates; ``KeyboardInterrupt`` ends it KILLED. A run never
  ended (no ``with``, no ``end()``) is ended when the interpreter exits: FAILED after an uncaught
  exception, else FINISHED.
- SIGTERM and SIGHUP (what ``kill``, ``timeout``, Kubernetes, Slurm and a closed terminal send) end
  the run KILLED too: while a run is open, and if the main thread's handler is still the default,
  the signal raises ``Terminated`` (a ``SystemExit`` with code 128 + signal) in the main thread, so
  ``with`` blocks and ``finally`` unwind and pending metrics are written; a second signal kills at
  once. The default handlers come back when the last run ends. SIGKILL cannot be caught: that run
  stays RUNNING with every point the writer had committed (it commits every 0.2 s).
- A forked child (``os.fork``, ``multiprocessing`` with fork) inherits the current run and may log
  to it; its points go through a writer of its own, flushed when the child exits, and the child
  never ends the run: only the process that started a run ends it.
- The environment (Python, packages, host, script) is captured at start; the git commit and dirty
  flag and the platform a moment later, from a thread (``deferred``), stored by ``flush()`` or the end.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import datetime as dt
import os
import signal
import sys
import threading
import time
import traceback
import weakref
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from mloop.config import CONFIG_FILE, find_workspace
from mloop.errors import InvalidInput, NotFound
from mloop.tracking import runs
from mloop.tracking.deferred import DeferredEnvironment
from mloop.tracking.environment import quick_fields
from mloop.tracking.records import (
    ArtifactRecord,
    RunInfo,
    Status,
    check_key,
    metric_number,
    metric_step,
)
from mloop.tracking.termination import TERMINATING_SIGNALS, Terminated, ended_status
from mloop.tracking.writer import MetricWriter
from mloop.workspace import Workspace

PARENT_TAG = "mloop.parent_run"
TRACEBACK_FRAMES = 3

_ACTIVE: contextvars.ContextVar[ActiveRun | None] = contextvars.ContextVar(
    "mloop_active_run", default=None
)
# Per-process bookkeeping that signals and fork need (they act on the process, not a context):
# the runs this process started and has not ended, and the signal that is terminating it.
_OPEN: weakref.WeakSet[ActiveRun] = weakref.WeakSet()
_terminated_by: str | None = None


def _on_terminating_signal(signum: int, frame: object) -> None:
    global _terminated_by
    _terminated_by = signal.Signals(signum).name
    signal.signal(signum, signal.SIG_DFL)  # a second signal kills at once
    raise Terminated(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _catch_terminating_signals() -> None:
    """Route SIGTERM/SIGHUP to ``Terminated``, unless someone else already handles them."""
    if not _in_main_thread():
        return  # signal.signal works only there
    for signum in TERMINATING_SIGNALS:
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, _on_terminating_signal)


def _release_terminating_signals() -> None:
    if _OPEN or not _in_main_thread():
        return
    for signum in TERMINATING_SIGNALS:
        if signal.getsignal(signum) is _on_terminating_signal:
            signal.signal(signum, signal.SIG_DFL)


def _after_fork_in_child() -> None:
    inherited = list(_OPEN)
    _OPEN.clear()  # this process did not start them, so it never ends them
    _release_terminating_signals()
    for run in inherited:
        run._adopt_after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _open_workspace(path: str | os.PathLike[str] | None) -> Workspace:
    """``Workspace.open`` with a not-found error in Python terms, not the CLI's ``--workspace``."""
    try:
        root = find_workspace(path)
    except NotFound:
        chosen = path or os.environ.get("MLOOP_WORKSPACE")
        if not chosen:
            raise NotFound(
                f"No mloop workspace in {Path.cwd()} or any parent folder; create one with "
                "mloop.Workspace.init(FOLDER) (or `mloop init` in a shell), then pass "
                "start_run(workspace=FOLDER) or set MLOOP_WORKSPACE."
            ) from None
        source = f"start_run(workspace={str(chosen)!r})" if path else f"MLOOP_WORKSPACE={chosen}"
        raise NotFound(
            f"{source} is not an mloop workspace (a folder with {CONFIG_FILE}); create it with "
            f"mloop.Workspace.init({str(chosen)!r}) (or `mloop init` in a shell), or point to "
            f"the folder that holds {CONFIG_FILE}."
        ) from None
    return Workspace.open(root)


def describe_error(exc: BaseException) -> str:
    """``"{type}: {message}"`` then the last few traceback frames: what ``runs.error`` holds."""
    frames = traceback.format_tb(exc.__traceback__)[-TRACEBACK_FRAMES:]
    message = str(exc)
    head = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return head + ("\n" + "".join(frames).rstrip() if frames else "")


def _timestamp_ms(timestamp: float | dt.datetime | None) -> int:
    if timestamp is None:
        return time.time_ns() // 1_000_000
    if isinstance(timestamp, dt.datetime):
        return int(timestamp.timestamp() * 1000)
    return int(timestamp * 1000)


class ActiveRun:
    """A running run. Use ``start_run`` (or ``ActiveRun.start``) rather than the constructor."""

    def __init__(
        self,
        workspace: Workspace,
        info: RunInfo,
        *,
        owns_workspace: bool,
        parent: ActiveRun | None = None,
    ) -> None:
        self.workspace = workspace
        self.info = info
        self._run_id = info.id
        self.parent = parent
        self._owns_workspace = owns_workspace
        self._pid = os.getpid()  # only this process ends the run
        self._writer: MetricWriter | None = MetricWriter(workspace.store)
        self._steps: dict[str, int] = {}  # last step per metric key; a key here is a checked key
        self._step_lock = threading.Lock()
        self._ended = False
        self.status: Status = "RUNNING"
        self._environment: DeferredEnvironment | None = None  # git etc., stored once known

    @classmethod
    def start(
        cls,
        experiment: str = "default",
        *,
        name: str | None = None,
        workspace: Workspace | str | os.PathLike[str] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Self:
        """Create the run, capture the environment, make it the current run.

        Raises ``NotFound`` when there is no workspace, ``InvalidInput`` for a bad name or tag.
        """
        owns = not isinstance(workspace, Workspace)
        ws = workspace if isinstance(workspace, Workspace) else _open_workspace(workspace)
        cwd = Path.cwd()
        try:
            info = runs.create_run(
                ws.store,
                experiment=experiment,
                user=ws.user,
                environment=quick_fields(cwd),
                name=name,
            )
        except BaseException:
            if owns:
                ws.close()
            raise
        parent = _ACTIVE.get()
        run = cls(ws, info, owns_workspace=owns, parent=parent)
        run._environment = DeferredEnvironment(ws.store, info.id, cwd)
        _ACTIVE.set(run)
        _OPEN.add(run)
        _catch_terminating_signals()
        atexit.register(run._end_at_exit)
        try:
            all_tags = dict(tags or {})
            if parent is not None:
                all_tags.setdefault(PARENT_TAG, parent.id)
            run.set_tags(all_tags)
        except BaseException as exc:
            run.end("FAILED", describe_error(exc))
            raise
        return run

    @property
    def id(self) -> str:
        return self.info.id

    @property
    def experiment(self) -> str:
        return self.info.experiment

    def _check_open(self) -> None:
        if self._ended:
            raise InvalidInput(
                f"Run {self.id} has ended ({self.status}); start a new run to log more."
            )

    def log_param(self, key: str, value: Any) -> None:
        self.log_params({key: value})

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Record parameters with their JSON type; raises ``InvalidInput`` if one changes value."""
        self._check_open()
        runs.log_params(self.workspace.store, self.id, params)

    def log_metric(
        self,
        key: str,
        value: float,
        step: int | None = None,
        timestamp: float | dt.datetime | None = None,
    ) -> None:
        """Queue one point of metric ``key``; returns at once (the writer batches the inserts).

        ``step`` defaults to one past the last step logged for ``key`` in this run (0 first);
        ``timestamp`` is seconds since the epoch (as ``time.time()``) or a datetime, default now.
        NaN and infinities are stored as they are. Raises ``InvalidInput`` for a bad key or a value
        that is not a number.
        """
        # A training loop calls this thousands of times a second: every line here is counted
        # (benchmarks/tracking.py), so the common case (a float, an int step or none) is cheap.
        if self._ended:
            self._check_open()
        steps = self._steps
        if key not in steps:
            check_key(key, "Metric")
        number = value if type(value) is float else metric_number(key, value)
        if step is not None and (type(step) is not int or not -(2**63) <= step < 2**63):
            step = metric_step(key, step)
        with self._step_lock:  # threads logging one key without step= get distinct steps
            last = steps.get(key, -1)
            if step is None:
                step = last + 1
            if step >= last:
                steps[key] = step
        writer = self._writer or self._writer_for_this_process()
        stamp = time.time_ns() // 1_000_000 if timestamp is None else _timestamp_ms(timestamp)
        writer.add(self._run_id, key, number, step, stamp)

    def log_metrics(
        self,
        metrics: Mapping[str, float],
        step: int | None = None,
        timestamp: float | dt.datetime | None = None,
    ) -> None:
        """``log_metric`` for each item, with one shared timestamp."""
        stamp = time.time() if timestamp is None else timestamp
        for key, value in metrics.items():
            self.log_metric(key, value, step=step, timestamp=stamp)

    def set_tag(self, key: str, value: Any) -> None:
        self.set_tags({key: value})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set string tags (``str(value)``), overwriting earlier values."""
        self._check_open()
        runs.set_tags(self.workspace.store, self.id, tags)

    def log_artifact(
        self, path: str | os.PathLike[str], name: str | None = None
    ) -> list[ArtifactRecord]:
        """Store a file, or every file under a folder, under the logical name ``name``."""
        self._check_open()
        return runs.log_artifact(
            self.workspace.store, self.workspace.artifacts, self.id, Path(path), name
        )

    def log_input(self, version: Any, role: str = "train") -> None:
        """Record that this run read a dataset version: a ``DatasetVersion`` (anything with
        ``.id``), a version id, or ``"NAME@N"``. Raises ``NotFound`` for an unknown version."""
        self._check_open()
        version_id = getattr(version, "id", version)
        if not isinstance(version_id, str):
            raise InvalidInput(
                f"log_input takes a dataset version, its id or 'NAME@N', not {version!r}."
            )
        runs.log_input(self.workspace.store, self.id, version_id, role=role)

    def flush(self) -> None:
        """Wait until every metric logged so far is committed (e.g. before reading it back), and
        the environment's git fields are stored."""
        if self._environment is not None:
            self._environment.settle()
        if self._writer is not None:
            self._writer.flush()

    def _adopt_after_fork(self) -> None:
        """In a forked child: drop what fork broke. The writer's thread did not survive (its
        locks may even be held), and pooled connections belong to the parent (SQLite forbids
        using them across fork), so the child gets fresh ones on first use."""
        self._writer = None
        self._environment = None  # the parent's thread stores them
        with contextlib.suppress(Exception):
            self.workspace.store.engine.dispose(close=False)

    def _writer_for_this_process(self) -> MetricWriter:
        from multiprocessing import util

        writer = MetricWriter(self.workspace.store)
        # multiprocessing children leave through os._exit, which skips atexit; its finalizers
        # run on both that path and a normal interpreter exit.
        util.Finalize(None, writer.close, exitpriority=10)
        self._writer = writer
        return writer

    def end(self, status: Status = "FINISHED", error: str | None = None) -> None:
        """Commit the pending metrics and end the run; a second call does nothing.

        If the metrics cannot be written the run ends FAILED with that error, which is raised.
        In a forked child this only commits the child's metrics: the parent ends the run.
        """
        if self._ended:
            return
        self._ended = True
        atexit.unregister(self._end_at_exit)
        _OPEN.discard(self)
        _release_terminating_signals()
        if _ACTIVE.get() is self:
            parent = self.parent
            while parent is not None and parent._ended:  # an outer run ended out of order
                parent = parent.parent
            _ACTIVE.set(parent)
        if os.getpid() != self._pid:  # a forked child leaving its parent's run (sys.exit in a
            if self._writer is not None:  # `with` block): commit its points, leave the run be
                self._writer.close()
            return
        if self._environment is not None:
            self._environment.settle()
        writer_error: BaseException | None = None
        try:
            if self._writer is not None:
                self._writer.close()
        except Exception as exc:
            writer_error = exc
            status = "FAILED" if status == "FINISHED" else status
            note = f"metrics could not be written: {describe_error(exc)}"
            error = f"{error}\n{note}" if error else note
        try:
            runs.finish_run(self.workspace.store, self.id, status, error)
            self.status = status
        finally:
            if self._owns_workspace:
                self.workspace.close()
        if writer_error is not None:
            raise writer_error

    def _end_at_exit(self) -> None:
        if os.getpid() != self._pid:
            return  # a forked child exiting: the run is its parent's
        uncaught = getattr(sys, "last_value", None)
        if _terminated_by is not None:
            self.end("KILLED", f"Terminated: received {_terminated_by}")
        elif uncaught is not None:
            self.end("FAILED", describe_error(uncaught))
        else:
            self.end("FINISHED")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None or (isinstance(exc, SystemExit) and exc.code in (0, None)):
            self.end("FINISHED")
            return
        status = ended_status(exc)
        # A metrics-writer failure is recorded in runs.error; the user's exception wins.
        with contextlib.suppress(Exception):
            self.end(status, describe_error(exc))

    def __repr__(self) -> str:
        return f"<ActiveRun {self.id} experiment={self.experiment!r} {self.status}>"


def start_run(
    experiment: str = "default",
    *,
    name: str | None = None,
    workspace: Workspace | str | os.PathLike[str] | None = None,
    tags: Mapping[str, Any] | None = None,
) -> ActiveRun:
    """Start a run: ``with mloop.start_run(experiment="churn") as run: run.log_metric(...)``.

    ``workspace`` is a ``Workspace``, a folder, or None (``MLOOP_WORKSPACE``, else the nearest
    folder with ``mloop.toml``). Raises ``NotFound`` when there is no workspace. SIGTERM and
    SIGHUP end the run KILLED (see the module docstring).
    """
    return ActiveRun.start(experiment, name=name, workspace=workspace, tags=tags)


def active_run() -> ActiveRun | None:
    """The current run in this context (the innermost one started and not ended), or None."""
    return _ACTIVE.get()
