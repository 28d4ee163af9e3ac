"""The Ray executor: submitted calls become Ray tasks, on a cluster or on a private local Ray.

With ``ray_address`` set (``MLOOP_RAY_ADDRESS`` or ``[executor] ray_address``) mloop connects to
that cluster as a client driver and leaves it running at exit: the cluster is someone else's.

Without it mloop starts a private Ray for the length of one command, and stops it at the end so
no raylet, GCS or worker outlives the command. That Ray is locked down, because a Ray cluster
runs whatever code any client that can reach it submits (ShadowRay, CVE-2023-48022: the job
API has no authentication by design, and exposed dashboards were mined for months):

- every server binds to loopback. Ray turns ``_node_ip_address="127.0.0.1"`` into the machine's
  routable address unless clusters are disabled (as it does itself on macOS and Windows), so the
  start-up runs with that switch off; the GCS, raylet, object manager, workers and agents then
  listen on 127.0.0.1 only (tests/executors/test_ray_executor.py checks every listening socket);
- no dashboard and so no job submission API: not even the minimal head process Ray keeps
  with ``include_dashboard=False`` is started;
- ``address="local"``: always a new Ray, never one another user started on this machine;
- no usage statistics sent anywhere (``RAY_USAGE_STATS_ENABLED=0``), logging quiet, workers'
  output kept in Ray's session logs rather than the command's stderr.

Callables reach the workers by reference (a module-level function) or by value (cloudpickle), as
for the process pool; on a remote cluster mloop must be installed on the workers.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from contextlib import contextmanager, nullcontext, suppress
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

from mloop.errors import InvalidInput

if TYPE_CHECKING:
    from mloop.executors import ExecutorSettings

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
# Read by every Ray process this one starts (they inherit the environment).
QUIET_ENVIRON = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"}


def import_ray() -> Any:
    """The ``ray`` module; ``InvalidInput`` naming the extra when it is not installed."""
    for key, value in QUIET_ENVIRON.items():
        os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError:
        raise InvalidInput(
            "The Ray executor needs Ray; install mloop[ray] (pip install 'mloop[ray]'), "
            "or unset MLOOP_EXECUTOR to use the local process pool."
        ) from None
    return ray


def _invoke(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """The one Ray task every call runs through, so any picklable callable can be submitted
    (a builtin, a ``functools.partial``, a callable object), not only plain functions."""
    return fn(*args, **kwargs)


def _import_all(modules: list[str]) -> None:
    for name in modules:
        with suppress(ImportError):  # as the fork server's preload: the call will say it
            importlib.import_module(name)


class RayExecutor:
    """Submits calls as Ray tasks of one CPU each; futures are ``ObjectRef.future()``."""

    def __init__(self, ray: Any, *, owns_cluster: bool) -> None:
        self._ray = ray
        self.owns_cluster = owns_cluster
        # one CPU a call, as a pool process; not retried: a trial or step that failed, failed
        self._task = ray.remote(num_cpus=1, max_retries=0)(_invoke)
        self._warming: list[Any] = []
        self._submitted: list[Any] = []

    @property
    def kind(self) -> Literal["ray"]:
        return "ray"

    @property
    def parallelism(self) -> int:
        return max(1, int(self._ray.cluster_resources().get("CPU", 1)))

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        ref = self._task.remote(fn, *args, **kwargs)
        self._submitted.append(ref)
        future: Future[T] = ref.future()
        return future

    def warm(self, modules: Sequence[str]) -> None:
        """One import task per CPU: Ray's idle workers take them side by side (a worker that
        takes two finds the modules there the second time)."""
        self._warming = [
            self._task.remote(_import_all, list(modules)) for _ in range(self.parallelism)
        ]

    def stop(self) -> None:
        """Cancel every call this executor submitted; a running one's worker is killed (on a
        joined cluster too, where ``ray.shutdown`` would only disconnect this driver)."""
        submitted, self._submitted = self._submitted, []
        for ref in submitted:
            with suppress(Exception):  # already finished, or its worker already gone
                self._ray.cancel(ref, force=True)
        if submitted:  # gone before the caller records what the calls left unfinished
            with suppress(Exception):
                self._ray.wait(submitted, num_returns=len(submitted), timeout=10)


@contextmanager
def _keeping_signal_handlers() -> Iterator[None]:
    """The process's own SIGTERM and SIGHUP handlers, put back after ``ray.init``.

    A driver's ``ray.init`` replaces them with ``sys.exit(signum)`` behind a C++ handler that
    prints a stack dump: ``kill`` of a command on Ray then ended its run FAILED ("SystemExit:
    15") with six lines of "*** SIGTERM received" on the user's terminal, where the same
    command on the process pool ends the run KILLED, quietly, exit 143 (``mloop.cli.app``)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    stops = [getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)]
    saved = {signum: signal.getsignal(signum) for signum in stops}
    try:
        yield
    finally:
        for signum, handler in saved.items():
            if handler is not None:
                signal.signal(signum, handler)


@contextmanager
def _on_loopback() -> Iterator[None]:
    """Ray's clusters switch off while ``ray.init`` runs, so this node's address stays
    127.0.0.1 instead of being "resolved" to the machine's routable one."""
    from ray._private import ray_constants

    clusters = ray_constants.ENABLE_RAY_CLUSTER
    ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = clusters


def _is_loopback(address: str) -> bool:
    host = address.split("://")[-1].rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _start_local(ray: Any, num_cpus: int, preload: Sequence[str] = ()) -> None:
    """``ray.init`` of a private Ray on loopback (see the module docstring for why each flag).
    Its workers import ``preload`` as they start (Ray's ``preload_python_modules``), while the
    driver is still connecting, rather than once the first call is handed to them."""
    with (
        _on_loopback(),
        _without_extras(),
        _prompt_node_wait(),
        _environ(PYTHONPATH=_driver_path()),
    ):
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            _node_ip_address=LOOPBACK,
            log_to_driver=False,
            # ERROR: Ray's notice that it turned token authentication on is not the user's news
            logging_level=logging.ERROR,
            configure_logging=True,
            # Ray runs its workers at nice 15 so a shared node's daemons stay responsive; the
            # trials of one command then lose CPU to every other process on the machine first,
            # where the pool's workers run at the command's priority
            _system_config={"worker_niceness": 0, "preload_python_modules": list(preload)},
        )


@contextmanager
def _without_extras() -> Iterator[None]:
    """The private Ray starts without its autoscaler monitor and its log monitor (what ``ray
    start --no-monitor --include-log-monitor=False`` leaves out; ``ray.init`` has no such
    arguments): one fixed node scales nothing, and with ``log_to_driver=False`` no log is
    streamed, so both were two more Python processes importing Ray beside the command (2.1 s
    of CPU at start), polling while the trials ran, and slow to stop (``ray.shutdown`` took
    1.3-1.6 s with them, 0.2-0.3 s without). Nor does it start the dashboard's head process,
    which ``include_dashboard=False`` only trims to a usage-statistics module (sent nowhere
    here): ``ray.init`` waited 0.9 s for it, and took 1.8 s instead of 2.9 s without it."""
    try:
        from ray._private.node import Node
        from ray._private.parameter import RayParams

        init = RayParams.__init__
        api_server = Node.start_api_server
    except (ImportError, AttributeError):  # another Ray: it starts with them all, as before
        yield
        return

    def lean(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.no_monitor = True
        self.include_log_monitor = False

    def no_api_server(self: Any, **_: Any) -> None:
        return None

    RayParams.__init__ = lean  # type: ignore[method-assign]
    Node.start_api_server = no_api_server  # type: ignore[method-assign]
    try:
        yield
    finally:
        RayParams.__init__ = init  # type: ignore[method-assign]
        Node.start_api_server = api_server  # type: ignore[method-assign]


@contextmanager
def _prompt_node_wait() -> Iterator[None]:
    """``ray.init`` asks the GCS for its new raylet 0.1 s after starting it, and Ray's C++
    lookup then waits a whole second before asking again (``GlobalStateAccessor::GetNode``);
    the raylet registers after 0.5-0.7 s here, so every private Ray started 0.3-0.5 s later
    than it could. The lookup is made once the node is listed, polled every 20 ms."""
    try:
        from ray._private import services, state
    except ImportError:  # another Ray: its own wait, as before
        yield
        return
    get_node = getattr(services, "get_node", None)
    options = getattr(services, "_get_gcs_client_options", None)
    if get_node is None or options is None:
        yield
        return

    def once_listed(gcs_address: str, node_id: str) -> Any:
        with suppress(Exception):  # Ray's own lookup says what went wrong, after its wait
            listing = cast(Any, state).GlobalState()
            listing._initialize_global_state(options(gcs_address))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if any(node.get("NodeID") == node_id for node in listing.node_table()):
                    break
                time.sleep(0.02)
        return get_node(gcs_address, node_id)

    services.get_node = once_listed
    try:
        yield
    finally:
        services.get_node = get_node


@contextmanager
def _environ(**values: str) -> Iterator[None]:
    """``values`` in this process's environment while the private Ray starts: its raylet copies
    the environment, and every worker it starts inherits it. The import path travels this way,
    not as a ``runtime_env``: a job with a runtime environment cannot use the workers Ray starts
    ahead of the first task and waits for new ones (first two tasks 6.4 s instead of 1.5 s,
    2 cores at load 5)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _driver_path() -> str:
    """This process's import path, absolute: the private Ray's workers import what the command
    imports (its mloop, the workspace's model code), as forkserver pool workers do."""
    seen = dict.fromkeys(os.path.abspath(p or os.curdir) for p in sys.path)
    return os.pathsep.join(p for p in seen if os.path.isdir(p))


@contextmanager
def open_ray_executor(
    settings: ExecutorSettings,
    preload: Sequence[str] = (),
) -> Iterator[RayExecutor]:
    """A Ray executor for the length of the ``with``: ``settings.ray_address``'s cluster (left
    running), else a private local Ray on loopback with ``max_workers`` (or every core) CPUs,
    whose workers import ``preload`` as they start, shut down at exit. Raises
    ``InvalidInput`` when Ray is not installed, the cluster cannot be reached, or a Ray is
    already running in this process."""
    ray = import_ray()
    if ray.is_initialized():
        raise InvalidInput(
            "Ray is already initialised in this process; mloop starts (or connects to) its own, "
            "so call ray.shutdown() first."
        )
    owns = settings.ray_address is None
    try:
        with _keeping_signal_handlers():
            if owns:
                _start_local(ray, settings.max_workers or os.cpu_count() or 1, preload)
            else:
                # a cluster on this machine's loopback: this driver must be on loopback too, or
                # it waits for a node at the routable address that is not there
                loopback = _is_loopback(settings.ray_address or "")
                with _on_loopback() if loopback else nullcontext():
                    ray.init(
                        address=settings.ray_address,
                        log_to_driver=False,
                        logging_level=logging.WARNING,
                    )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        ray.shutdown()
        where = settings.ray_address or "a local Ray"
        # Ray sends a token only to a cluster it found itself ("auto"), never to an address it
        # was given, unless told to: the usual reason a running cluster refuses this driver.
        token = (
            ""
            if owns or os.environ.get("RAY_AUTH_MODE", "").lower() == "token"
            else ", and if the cluster uses token authentication (a new Ray's default), "
            "set RAY_AUTH_MODE=token with its token in RAY_AUTH_TOKEN or ~/.ray/auth_token"
        )
        raise InvalidInput(
            f"Could not start or reach {where} ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            f"check MLOOP_RAY_ADDRESS (or [executor] ray_address) and that the cluster is up{token}."
        ) from exc
    try:
        yield RayExecutor(ray, owns_cluster=owns)
    finally:
        # Disconnecting a driver from someone's cluster leaves it running; for the private
        # Ray, shutdown also stops the GCS, the raylet and every worker it started.
        ray.shutdown()


def quiet_ray_data() -> None:
    """Ray Data draws progress bars on stderr by default; the CLI draws its own. Called by what
    uses Ray Data, so a sweep does not pay its import (~1 s)."""
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    # Ray Data logs its start, its finish and the switch above at INFO/WARNING on stderr
    logging.getLogger("ray.data").setLevel(logging.ERROR)
