"""`mloop pipeline run|ls|show`: cached pipelines of ``@mloop.step`` functions.

``run`` prints ``pipeline_run=ID`` on stdout (or the run as JSON) and a step table on stderr; it
exits 1 when a step failed. RUN is a pipeline run id or a unique prefix of one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import (
    JsonOption,
    chatter_to_stderr,
    console,
    err_console,
    err_line,
    escape,
    fmt_time,
    print_json,
    print_table,
)
from mloop.errors import InvalidInput

if TYPE_CHECKING:
    from mloop.pipelines.records import PipelineRun

app = typer.Typer(
    help="Pipelines of @mloop.step functions: run (cached), ls, show.", no_args_is_help=True
)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}s"


def _params(raw: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    for item in raw:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInput(f"--param {item!r} must be KEY=VALUE (--param C=0.5).")
        if key.strip() in params:
            raise InvalidInput(f"--param {key.strip()} is given twice; keep one of them.")
        params[key.strip()] = value
    return params


def _step_rows(run: PipelineRun) -> list[tuple[str, ...]]:
    return [
        (
            step.name,
            step.status,
            _seconds(step.seconds),
            (step.outputs.get("return") or {}).get("hash", "")[:19],
            (step.error or "").splitlines()[0] if step.error else "",
        )
        for step in run.steps
    ]


@app.command("run")
def run(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Pipeline name (in [pipelines] file) or FILE:NAME.")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="A pipeline parameter, KEY=VALUE (repeatable)."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Run every step, reusing nothing.")
    ] = False,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume", help="Re-run a failed run (id or prefix), reusing its finished steps."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Run a pipeline; steps whose code, inputs and parameters are unchanged are reused."""
    from mloop.pipelines.runner import run_pipeline

    params = _params(param or [])

    def tell(step: str, status: str, seconds: float | None, error: str | None) -> None:
        took = "" if seconds is None else f"  {_seconds(seconds)}"
        why = f"  {error}" if error else ""
        err_line(f"  {step}  {status}{took}{why}")

    with open_workspace(ctx) as ws, chatter_to_stderr():
        result = run_pipeline(ws, name, params, no_cache=no_cache, resume=resume, progress=tell)
    if result.error:
        err_console().print(f"[bold red]failed:[/] {escape(result.error)}", highlight=False)
    if as_json:
        print_json(result.to_dict())
    else:
        typer.echo(f"pipeline_run={result.id}")
        if result.model:
            typer.echo(f"model={result.model}")
    if result.status != "succeeded":
        raise typer.Exit(1)


@app.command("ls")
def ls(
    ctx: typer.Context,
    pipeline: Annotated[
        str | None, typer.Option("--pipeline", help="Only runs of this pipeline.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many runs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List pipeline runs, newest first."""
    from mloop.pipelines.records import list_runs

    with open_workspace(ctx) as ws:
        runs = list_runs(ws.store, pipeline=pipeline, limit=limit)
    if as_json:
        print_json([found.to_dict() for found in runs])
        return
    print_table(
        ["run", "pipeline", "status", "steps", "cached", "started", "took", "resumed", "by"],
        [
            (
                found.id,
                found.pipeline,
                found.status,
                str(len(found.steps)),
                str(sum(step.cached for step in found.steps)),
                fmt_time(found.started_at),
                _seconds(found.seconds),
                found.resumed_from or "",
                found.created_by,
            )
            for found in runs
        ],
    )


@app.command("show")
def show(
    ctx: typer.Context,
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Run id or a unique prefix.")],
    as_json: JsonOption = False,
) -> None:
    """One pipeline run: its parameters and each step's status, inputs, outputs and error."""
    from mloop.pipelines.records import get_run

    with open_workspace(ctx) as ws:
        found = get_run(ws.store, run_id)
    if as_json:
        print_json(found.to_dict())
        return
    out = console()
    out.print(
        f"[bold]pipeline run {found.id}[/]  {escape(found.pipeline)}  {found.status}  "
        f"executor={found.executor}  by={escape(found.created_by)}"
    )
    out.print(
        f"started {fmt_time(found.started_at)}  took {_seconds(found.seconds) or '-'}"
        + (f"  resumed from {found.resumed_from}" if found.resumed_from else "")
    )
    if found.params:
        out.print("params: " + escape(", ".join(f"{k}={v}" for k, v in found.params.items())))
    if found.error:
        out.print(f"[red]error:[/] {escape(found.error)}")
    print_table(["step", "status", "took", "output", "error"], _step_rows(found))
    for step in found.steps:
        if step.error:
            out.print(f"\n[bold]{escape(step.name)}[/] failed:\n{escape(step.error)}")
