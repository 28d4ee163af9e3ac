"""`mloop runs …`: list, show and compare tracked runs."""

from __future__ import annotations

from typing import Annotated

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, console, fmt_number, fmt_time, print_json, print_table

app = typer.Typer(
    help="Tracked runs: parameters, metrics, artifacts, inputs, environment.", no_args_is_help=True
)


@app.command("ls")
def ls(
    ctx: typer.Context,
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Only this experiment.")
    ] = None,
    limit: Annotated[
        int, typer.Option("--limit", help="At most this many runs, newest first.")
    ] = 50,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first, with their headline metrics."""
    from mloop.tracking.runs import list_runs

    with open_workspace(ctx) as ws:
        found = list_runs(ws.store, experiment=experiment, limit=limit)
    if as_json:
        print_json(found)
        return
    print_table(
        ["run", "experiment", "status", "started", "user", "metrics"],
        [
            (
                r.id,
                r.experiment,
                r.status,
                fmt_time(r.started_at),
                r.user,
                ", ".join(f"{k}={fmt_number(v)}" for k, v in sorted(r.metrics.items())[:4]),
            )
            for r in found
        ],
    )


@app.command("show")
def show(
    ctx: typer.Context,
    run: Annotated[str, typer.Argument(help="Run id or a unique prefix.")],
    as_json: JsonOption = False,
) -> None:
    """Everything about one run: params, metrics, tags, artifacts, inputs, environment."""
    from mloop.tracking.runs import get_run

    with open_workspace(ctx) as ws:
        found = get_run(ws.store, run)
    if as_json:
        print_json(found)
        return
    info = found.info
    out = console()
    out.print(
        f"[bold]run {info.id}[/]  {info.status}  experiment={info.experiment}  user={info.user}"
    )
    out.print(f"started {fmt_time(info.started_at)}  ended {fmt_time(info.ended_at) or '-'}")
    env = info.environment
    dirty = " (dirty)" if env.get("git_dirty") else ""
    out.print(
        f"python {env.get('python')} on {env.get('host')}  git {env.get('git_commit') or '-'}{dirty}"
    )
    if info.error:
        out.print(f"[red]error:[/] {info.error.strip().splitlines()[0]}")
    print_table(
        ["param", "value"], [(k, repr(v)) for k, v in sorted(found.params.items())], title="params"
    )
    print_table(
        ["metric", "latest"],
        [(k, fmt_number(v)) for k, v in sorted(found.metrics.items())],
        title="metrics",
    )
    if found.tags:
        print_table(["tag", "value"], sorted(found.tags.items()), title="tags")
    if found.inputs:
        print_table(
            ["role", "dataset", "hash"],
            [(i.role, i.dataset_ref, f"blake3:{i.content_hash}") for i in found.inputs],
            title="inputs",
        )
    if found.artifacts:
        print_table(
            ["artifact", "kind", "bytes", "hash"],
            [(a.path, a.kind, a.size_bytes, a.blob_hash[:16]) for a in found.artifacts],
            title="artifacts",
        )


@app.command("compare")
def compare(
    ctx: typer.Context,
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids (or unique prefixes).")],
    only_diff: Annotated[bool, typer.Option("--diff", help="Only rows that differ.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Params and metrics side by side; rows that differ are highlighted."""
    from rich.table import Table

    from mloop.tracking.runs import compare_runs

    with open_workspace(ctx) as ws:
        result = compare_runs(ws.store, runs)
    if as_json:
        print_json(result)
        return
    table = Table(header_style="bold")
    table.add_column("")
    table.add_column("name")
    for run_id in result.runs:
        table.add_column(run_id, overflow="fold")
    for row in result.rows:
        if only_diff and not row.differs:
            continue
        style = "bold yellow" if row.differs else None
        cells = [
            fmt_number(v) if row.kind == "metric" else repr(v) if v is not None else "-"
            for v in row.values
        ]
        table.add_row(row.kind, row.key + (" *" if row.differs else ""), *cells, style=style)
    console().print(table)
