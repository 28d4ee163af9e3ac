"""`mloop serve`: serve every endpoint of the workspace over HTTP until stopped."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import typer

from mloop.cli.context import open_workspace
from mloop.serving.settings import HELP


def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option("--host", help=HELP["host"] + " [default: 127.0.0.1]")
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help=HELP["port"] + " [default: 8000]")
    ] = None,
    max_body_bytes: Annotated[
        int | None, typer.Option("--max-body-bytes", help=HELP["max_body_bytes"])
    ] = None,
    max_rows: Annotated[int | None, typer.Option("--max-rows", help=HELP["max_rows"])] = None,
    timeout_s: Annotated[float | None, typer.Option("--timeout-s", help=HELP["timeout_s"])] = None,
    queue: Annotated[int | None, typer.Option("--queue", help=HELP["queue"])] = None,
    batch_max_rows: Annotated[
        int | None, typer.Option("--batch-max-rows", help=HELP["batch_max_rows"])
    ] = None,
    batch_max_wait_ms: Annotated[
        float | None, typer.Option("--batch-max-wait-ms", help=HELP["batch_max_wait_ms"])
    ] = None,
    log_durability: Annotated[
        str | None, typer.Option("--log-durability", help=HELP["log_durability"])
    ] = None,
    on_invalid: Annotated[str | None, typer.Option("--on-invalid", help=HELP["on_invalid"])] = None,
    agent: Annotated[
        bool,
        typer.Option(
            "--agent",
            help="Also run `mloop agent` (retraining policies and rollouts) beside the server, "
            "as a child process stopped with it.",
        ),
    ] = False,
) -> None:
    """Serve every endpoint of the workspace (settings: [serving] in mloop.toml; flags win).

    Revisions written while it runs (deploy, switch, rollback, an alias move) are picked up
    within a second: new models are loaded and warmed before traffic moves. Stop with Ctrl-C or
    SIGTERM; in-flight requests are answered and the prediction log is flushed first.
    With --agent, `mloop agent` runs beside it (see docs/loop.md) and stops with it.
    """
    from mloop.serving.server import Started
    from mloop.serving.server import serve as run_server
    from mloop.serving.settings import load_serving_settings

    workspace = open_workspace(ctx)
    try:  # a refused setting must close the store too (a leaked connection)
        settings = load_serving_settings(
            workspace.settings.raw,
            {
                "host": host,
                "port": port,
                "max_body_bytes": max_body_bytes,
                "max_rows": max_rows,
                "timeout_s": timeout_s,
                "queue": queue,
                "batch_max_rows": batch_max_rows,
                "batch_max_wait_ms": batch_max_wait_ms,
                "log_durability": log_durability,
                "on_invalid": on_invalid,
            },
        )

        def started(info: Started) -> None:
            typer.echo(f"serving {info.url}", err=False)
            if info.endpoints:
                for name in info.endpoints:
                    typer.echo(f"  {info.url}/v1/endpoints/{name}/predict")
            else:
                typer.echo(
                    "  no endpoints yet: `mloop deploy ENDPOINT MODEL@ALIAS` adds one, served at once"
                )
            typer.echo("stop with Ctrl-C", err=False)

        child = _start_agent(workspace.root) if agent else None
        try:
            run_server(
                workspace,
                settings,
                on_started=started,
                on_stopping=None if child is None else child.terminate,
            )
        finally:
            if child is not None:
                _stop_agent(child)
    finally:
        workspace.close()


PARENT_ENV = "MLOOP_AGENT_PARENT"  # the agent stops when this process is gone


def _start_agent(root: Path) -> subprocess.Popen[bytes]:
    """The agent in its own process: a training job's CPU and memory stay out of the server's,
    and a crash in a user's model code cannot take the server down."""
    env = {**os.environ, PARENT_ENV: str(os.getpid())}
    return subprocess.Popen(
        [sys.executable, "-m", "mloop", "--workspace", str(root), "agent"], env=env
    )


def _stop_agent(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM: the agent hands its job back to the queue and exits 0."""
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
