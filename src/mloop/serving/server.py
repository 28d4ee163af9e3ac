"""The server process: uvicorn in-process, a poller that follows the store, a clean SIGTERM.

``serve(workspace, settings)`` binds the socket first (so the URL it reports is already
accepting, even with port 0), then runs uvicorn on it. While it runs, a background task polls
``serving_snapshot`` every half second (and ``follow_aliases``, so an alias move becomes a new
revision), loads and warms new models off the event loop, then swaps them in (``loader``), and
writes each endpoint's readiness and shadow agreement to its status file every second.

SIGTERM: uvicorn stops accepting, lets in-flight requests finish, runs the app's shutdown (which
drains the batchers and flushes and closes the prediction log), and then re-raises the signal to
kill the process with it. The re-raise is dropped for SIGTERM and SIGINT (Ctrl-C): a requested
stop exits 0. A second Ctrl-C still forces the exit at once.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from prometheus_client import disable_created_metrics

from mloop.errors import InvalidInput
from mloop.serving.app import create_app
from mloop.serving.loader import Loader
from mloop.serving.settings import ServingSettings
from mloop.serving.state import ServingState
from mloop.workspace import Workspace

log = logging.getLogger("mloop.serving")
POLL_S = 0.5
STATUS_S = 1.0


class _Server(uvicorn.Server):
    def __init__(
        self, config: uvicorn.Config, on_stopping: Callable[[], None] | None = None
    ) -> None:
        super().__init__(config)
        self._on_stopping = on_stopping

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        if self._on_stopping is not None:
            on_stopping, self._on_stopping = self._on_stopping, None
            on_stopping()
        # Asked to stop (SIGTERM, or Ctrl-C, the documented way to stop): after the graceful
        # shutdown that is a clean exit 0, not death by the re-raised signal.
        self._captured_signals = [
            s for s in self._captured_signals if s not in (signal.SIGTERM, signal.SIGINT)
        ]


@dataclass(frozen=True)
class Started:
    url: str
    endpoints: list[str]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (IPv6 when the host is one); ``InvalidInput`` when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says
    # TCP, and without it every response waited ~40 ms (Nagle behind the client's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            fix = (  # the address is the problem, not the port
                "pass --host with an address of this machine (127.0.0.1 for this machine only, "
                "0.0.0.0 for every interface)"
            )
        else:
            fix = "pass --port with a free port (0 picks one), or stop the program using it"
        raise InvalidInput(
            f"Cannot listen on {host}:{port} ({exc.strerror or exc}); {fix}."
        ) from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(
    workspace: Workspace,
    settings: ServingSettings,
    *,
    on_started: Callable[[Started], None] | None = None,
    on_stopping: Callable[[], None] | None = None,
) -> None:
    """Serve every endpoint of ``workspace`` until SIGTERM or Ctrl-C; returns after a clean stop.
    ``on_stopping`` is called once, as soon as the signal arrives: what stops beside the server
    (``--agent``) then stops during its graceful shutdown, not after it."""
    from mloop.monitoring.model_outputs import registry_output_of

    disable_created_metrics()  # type: ignore[no-untyped-call]  # *_created series: noise
    sock = bind(settings.host, settings.port)
    url = url_of(sock)
    state = ServingState(settings=settings)
    state.output_of = registry_output_of(workspace.store)
    loader = Loader(workspace, state, url=url, pid=os.getpid())
    names = loader.discover()
    tasks: list[asyncio.Task[Any]] = []

    async def startup() -> None:
        loader.open_logs()
        tasks.append(asyncio.create_task(loader.run(POLL_S), name="mloop-poll"))
        tasks.append(asyncio.create_task(loader.report(STATUS_S), name="mloop-status"))

    async def shutdown() -> None:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await loader.close()

    state.on_startup = startup
    state.on_shutdown = shutdown
    app = create_app(state)
    longest = max(
        [settings.defaults.timeout_s, *(e.timeout_s for e in settings.endpoints.values())]
    )
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=int(longest) + 5,
        lifespan="on",
        server_header=False,
    )
    server = _Server(config, on_stopping)
    if on_started is not None:
        on_started(Started(url=url, endpoints=names))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
