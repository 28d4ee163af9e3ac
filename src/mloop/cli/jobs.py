"""`mloop jobs ls|show`: batch jobs (``mloop predict``) with what they read, wrote and counted.

JOB is a job id or a unique prefix of one.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, console, fmt_time, print_json, print_table

app = typer.Typer(help="Batch jobs: model, inputs, outputs, counts.", no_args_is_help=True)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def _count(counts: dict[str, Any], key: str) -> str:
    value = counts.get(key)
    return "" if value is None else f"{value:,}"


@app.command("ls")
def ls(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only jobs of this kind (predict).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many jobs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first."""
    from mloop.batch.jobs import list_jobs

    with open_workspace(ctx) as ws:
        jobs = list_jobs(ws.store, kind=kind, limit=limit)
    if as_json:
        print_json([job.to_dict() for job in jobs])
        return
    print_table(
        ["job", "kind", "status", "model", "read", "scored", "rejected", "started", "took", "by"],
        [
            (
                job.id,
                job.kind,
                job.status,
                job.model or "",
                _count(job.counts, "rows_read"),
                _count(job.counts, "rows_scored"),
                _count(job.counts, "rows_rejected"),
                fmt_time(job.started_at),
                _seconds(job.seconds),
                job.created_by,
            )
            for job in jobs
        ],
    )


@app.command("show")
def show(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="Job id or a unique prefix of one.")],
    as_json: JsonOption = False,
) -> None:
    """One job: model version, params, input and output files with their hashes, counts, error."""
    from mloop.batch.jobs import get_job

    with open_workspace(ctx) as ws:
        found = get_job(ws.store, job)
    if as_json:
        print_json(found.to_dict())
        return
    out = console()
    out.print(
        f"[bold]job {found.id}[/]  {found.kind}  {found.status}  model={escape(found.model or '-')}  "
        f"by={escape(found.created_by)}"
    )
    out.print(
        f"started {fmt_time(found.started_at)}  ended {fmt_time(found.ended_at) or '-'}  "
        f"took {_seconds(found.seconds) or '-'}"
    )
    if found.error:
        out.print(f"[red]error:[/] {escape(found.error)}")
    rows = [(f"params.{k}", str(v)) for k, v in found.params.items()]
    rows += [(f"input.{k}", str(v)) for k, v in found.inputs.items()]
    rows += [(f"output.{k}", str(v)) for k, v in found.outputs.items()]
    for key, value in found.counts.items():
        if isinstance(value, dict):
            rows += [(f"{key}.{k}", f"{v:,}") for k, v in value.items()]
        else:
            rows.append((key, f"{value:,}" if isinstance(value, int) else str(value)))
    print_table(["field", "value"], rows)
