"""`mloop serve`: serve every endpoint of the workspace over HTTP until stopped."""

from __future__ import annotations

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
) -> None:
    """Serve every endpoint of the workspace (settings: [serving] in mloop.toml; flags win).

    Revisions written while it runs (deploy, switch, rollback, an alias move) are picked up
    within a second: new models are loaded and warmed before traffic moves. Stop with Ctrl-C or
    SIGTERM; in-flight requests are answered and the prediction log is flushed first.
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

        run_server(workspace, settings, on_started=started)
    finally:
        workspace.close()
