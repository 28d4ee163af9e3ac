"""`mloop agent`: run schedules, react to alerts and new data, drive retraining and rollouts.

Runs until Ctrl-C or SIGTERM (the job in hand is released back to the queue first, exit 0);
`--once` runs one tick and exits. Logs one line per event to stderr. Settings: [agent] in
mloop.toml (tick, lease, heartbeat, monitor_every); policies: [policies.ENDPOINT].
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import threading
import time
from typing import Annotated

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import chatter_to_stderr


def log_line(message: str) -> None:
    """One line per event on stderr, UTC time first, flushed (the agent runs for days)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    typer.echo(f"{stamp} {message}", err=True)


def _stop_with_parent(parent: int) -> None:
    """A server started this agent (``mloop serve --agent``): when it dies, even by SIGKILL,
    the agent must not live on as an orphan driving rollouts for nobody. Polled once a second;
    the SIGTERM it sends itself releases the lease like any clean stop."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def agent(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="Run one tick, then exit.")] = False,
    tick: Annotated[
        float | None,
        typer.Option(
            "--tick", help="Seconds between ticks (default: [agent] tick, else 5).", min=0.1
        ),
    ] = None,
) -> None:
    """Run the retraining agent until stopped: triggers → jobs → gate → rollout → verdict."""
    from mloop.loop.agent import Agent

    parent = os.environ.get("MLOOP_AGENT_PARENT", "")
    if parent.isdigit():
        _stop_with_parent(int(parent))
    with open_workspace(ctx) as ws, chatter_to_stderr():
        runner = Agent(ws, log=log_line, tick=tick)
        # Ctrl-C, SIGTERM: the lease is released and the heartbeat gone, a clean stop, exit 0
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            runner.run(once=once)
