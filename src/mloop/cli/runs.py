"""`mloop runs ls|show|compare`: tracked runs, one at a time or side by side.

RUN is a run id or a unique prefix of one (as git takes commits). Parameter values are printed as
JSON, so 0.1 and "0.1" read differently, as they are stored.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.markup import escape

from mloop import render
from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, console, fmt_number, fmt_time, print_json, print_table
from mloop.plural import plural

app = typer.Typer(
    help="Tracked runs: parameters, metrics, artifacts, inputs, environment.", no_args_is_help=True
)

RunArgument = Annotated[str, typer.Argument(help="Run id or a unique prefix of one.")]


def _param(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _status(status: str, process_gone: bool) -> str:
    return f"{status} (process gone)" if process_gone else status


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes < 60 else f"{minutes // 60}h{minutes % 60:02d}m"


@app.command("ls")
def ls(
    ctx: typer.Context,
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="Only runs of this experiment.")
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(
            "--status", help="Only runs in this state: RUNNING, FINISHED, FAILED, KILLED."
        ),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many runs.")] = 50,
    parent: Annotated[
        str | None,
        typer.Option("--parent", help="Only the child runs of this run (a sweep's trials)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """List runs, newest first, with their latest metrics and parent run (a sweep's trials)."""
    from mloop.tracking.runs import list_runs

    with open_workspace(ctx) as ws:
        found = list_runs(
            ws.store, experiment=experiment, status=status, limit=limit, parent=parent
        )
    if as_json:
        print_json(found)
        return
    if not found:
        filtered = experiment is not None or status is not None or parent is not None
        console().print(
            "No runs match these filters; `mloop runs ls` lists every run."
            if filtered
            else "No runs yet; start one with `mloop train` or mloop.start_run()."
        )
        return
    print_table(
        ["run", "name", "parent", "experiment", "status", "started", "user", "metrics"],
        [
            (
                r.id,
                r.name or "",
                r.parent_run_id or "",
                r.experiment,
                _status(r.status, r.process_gone),
                fmt_time(r.started_at),
                r.user,
                ", ".join(f"{k}={fmt_number(v)}" for k, v in list(r.metrics.items())[:4]),
            )
            for r in found
        ],
    )


SERIES_SHOWN = 40
CHILDREN_SHOWN = 1000


def _seconds(run: Any) -> float | None:
    if run.ended_at is None:
        return None
    return float((run.ended_at - run.started_at).total_seconds())


def _trial_order(run: Any) -> tuple[int, Any]:
    """trial-2 before trial-10; other children by when they started."""
    name = run.name or ""
    number = name.removeprefix("trial-")
    return (int(number), run.started_at) if number.isdigit() else (10**9, run.started_at)


def _child(run: Any) -> dict[str, Any]:
    return {
        "id": run.id,
        "name": run.name,
        "status": run.status,
        "metrics": run.metrics,
        "seconds": _seconds(run),
    }


def _show_series(ctx: typer.Context, run: str, key: str, as_json: bool) -> None:
    import datetime as dt

    from mloop.tracking.runs import metric_history

    with open_workspace(ctx) as ws:
        points = metric_history(ws.store, run, key)
    if as_json:
        print_json(points)
        return
    rows: list[tuple[Any, ...]] = [
        (
            p.step,
            fmt_number(p.value),
            fmt_time(dt.datetime.fromtimestamp(p.timestamp_ms / 1000, dt.UTC)),
        )
        for p in points
    ]
    if len(rows) > SERIES_SHOWN:
        half = SERIES_SHOWN // 2
        skipped = len(rows) - SERIES_SHOWN
        rows = [*rows[:half], ("…", f"{skipped:,} more (--json has all)", ""), *rows[-half:]]
    print_table(["step", key, "time"], rows, title=f"{key}: {len(points):,} points")
    values = [p.value for p in points]
    finite = [v for v in values if v == v]
    if finite:
        console().print(
            f"first {fmt_number(values[0])}  last {fmt_number(values[-1])}  "
            f"min {fmt_number(min(finite))}  max {fmt_number(max(finite))}"
        )


@app.command("show")
def show(
    ctx: typer.Context,
    run: RunArgument,
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric", "-m", help="Print every point of this metric (step, value, time)."
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Everything about one run: params, metrics, tags, artifacts, inputs, environment."""
    from mloop.tracking.runs import get_run, list_runs

    if metric is not None:
        _show_series(ctx, run, metric, as_json)
        return

    with open_workspace(ctx) as ws:
        found = get_run(ws.store, run)
        children = list_runs(ws.store, parent=found.id, limit=CHILDREN_SHOWN)
    children.sort(key=_trial_order)  # a sweep's trials in their grid order
    if as_json:
        print_json({**render.run(found), "children": [_child(c) for c in children]})
        return
    info, env = found.info, found.info.environment
    out = console()
    name = f" ({escape(info.name)})" if info.name else ""
    out.print(
        f"[bold]run {info.id}[/]{name}  {_status(info.status, info.process_gone)}  experiment={escape(info.experiment)}  "
        f"user={escape(info.user)}"
    )
    out.print(
        f"started {fmt_time(info.started_at)}  ended {fmt_time(info.ended_at) or '-'}"
        f"  duration {_duration(info.duration_s) or '-'}"
    )
    dirty = " (dirty)" if env.get("git_dirty") else ""
    out.print(
        escape(
            f"python {env.get('python', '?')} on {env.get('host', '?')}  "
            f"git {env.get('git_commit') or '-'}{dirty}  script {env.get('script') or '-'}"
        )
    )
    if info.error:  # the stored traceback tail is in --json, for whoever debugs it
        out.print(f"[red]error:[/] {escape(info.error.splitlines()[0])}")
    if found.params:
        print_table(
            ["param", "value"],
            [(k, _param(v)) for k, v in found.params.items()],
            title="params",
        )
    if found.metrics:
        print_table(
            ["metric", "latest"],
            [(k, fmt_number(v)) for k, v in found.metrics.items()],
            title="metrics",
        )
    if found.tags:
        print_table(["tag", "value"], [(k, v) for k, v in found.tags.items()], title="tags")
    if found.inputs:
        print_table(
            ["role", "dataset", "hash"],
            [
                (
                    i.role,
                    i.dataset_ref or i.dataset_version_id,
                    f"blake3:{i.content_hash}" if i.content_hash else "",
                )
                for i in found.inputs
            ],
            title="inputs",
        )
    if found.artifacts:
        print_table(
            ["artifact", "kind", "bytes", "hash"],
            [(a.path, a.kind, a.size_bytes, a.blob_hash[:16]) for a in found.artifacts],
            title="artifacts",
        )
    if children:
        best = found.tags.get("best_run")
        ranked = found.tags.get("mloop.sweep.metric")
        print_table(
            ["run", "name", "status", *([ranked] if ranked else []), "duration"],
            [
                (
                    c.id,
                    c.name or "",
                    c.status + (" (best)" if c.id == best else ""),
                    *([fmt_number(c.metrics.get(ranked, ""))] if ranked else []),
                    _duration(_seconds(c)),
                )
                for c in children
            ],
            title=f"children ({len(children)})",
        )


@app.command("compare")
def compare(
    ctx: typer.Context,
    runs: Annotated[list[str], typer.Argument(help="Two or more run ids (or unique prefixes).")],
    only_diff: Annotated[bool, typer.Option("--diff", help="Only the rows that differ.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Params and latest metrics side by side; rows that differ are highlighted and starred."""
    from rich.table import Table

    from mloop.tracking.runs import compare_runs

    with open_workspace(ctx) as ws:
        result = compare_runs(ws.store, runs)
    if as_json:
        print_json(result)
        return
    table = Table(header_style="bold")
    table.add_column("")
    table.add_column("key", overflow="fold")
    for run_id, run_name in zip(result.runs, result.names, strict=True):
        table.add_column(run_id + (f"\n{escape(run_name)}" if run_name else ""), overflow="fold")
    for row in result.rows:
        if only_diff and not row.differs:
            continue
        cells = [
            "-" if v is None else fmt_number(v) if row.kind == "metric" else _param(v)
            for v in row.values
        ]
        table.add_row(
            row.kind,
            escape(row.key) + (" *" if row.differs else ""),
            *map(escape, cells),
            style="bold yellow" if row.differs else None,
        )
    out = console()
    out.print(table)
    differing = sum(row.differs for row in result.rows)
    out.print(f"{differing} of {plural(len(result.rows), 'row')} differ (*).")
