"""`mloop rollouts start|ls|show|check`: guarded rollouts, for people (the agent drives them).

``start`` puts a registered candidate live beside an endpoint's champion by hand (a policy's
rollout does the same after its gate); ``mloop agent`` or ``check`` then decides it.

ROLLOUT is a rollout id or a unique prefix of one. ``check`` measures the guardrails now and
applies the verdict if there is one, ending the retraining job that owns the rollout in the same
transaction (and says how it ended); it exits 1 when the rollout ends rolled back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from mloop.cli.context import check_endpoint_filter, open_workspace
from mloop.cli.output import JsonOption, console, fmt_number, fmt_time, print_json, print_table

if TYPE_CHECKING:
    from mloop.rollouts import Rollout

app = typer.Typer(
    help="Guarded rollouts: candidates watched beside the champion until guardrails decide.",
    no_args_is_help=True,
)

RolloutArgument = Annotated[str, typer.Argument(help="Rollout id or a unique prefix of one.")]


def _progress(rollout: Rollout) -> str:
    return f"{rollout.requests}/{rollout.min_sample}"


@app.command("ls")
def ls(
    ctx: typer.Context,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Only rollouts of this endpoint.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many rollouts.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List rollouts, newest first: candidate, champion, status and requests seen."""
    from mloop.rollouts import list_rollouts

    with open_workspace(ctx) as ws:
        found = list_rollouts(ws.store, endpoint=endpoint, limit=limit)
        if not found and endpoint is not None:
            check_endpoint_filter(ws, endpoint)
    if as_json:
        print_json([r.to_dict() for r in found])
        return
    if not found:
        typer.echo("No rollouts yet; a retraining policy starts them (docs/rollouts.md).")
        return
    print_table(
        [
            "rollout",
            "endpoint",
            "strategy",
            "candidate",
            "champion",
            "status",
            "requests",
            "started",
            "reason",
        ],
        [
            (
                r.id,
                r.endpoint,
                r.strategy if r.weight is None else f"{r.strategy} {r.weight}%",
                r.candidate,
                r.champion,
                r.status,
                _progress(r),
                fmt_time(r.started_at),
                r.reason or "",
            )
            for r in found
        ],
    )


def _show(rollout: Rollout) -> None:
    out = console()
    share = "" if rollout.weight is None else f" {rollout.weight}%"
    out.print(
        f"[bold]rollout {rollout.id}[/]  {escape(rollout.endpoint)}  "
        f"{rollout.strategy}{share}  {escape(rollout.candidate)} beside "
        f"{escape(rollout.champion)}  [bold]{rollout.status}[/]"
    )
    out.print(
        f"started {fmt_time(rollout.started_at)} (r{rollout.started_revision})  "
        f"due {fmt_time(rollout.due_at)}  decided {fmt_time(rollout.decided_at) or '-'}"
        + (f" (r{rollout.decided_revision})" if rollout.decided_revision else "")
        + f"  requests {_progress(rollout)}"
    )
    if rollout.reason:
        out.print(escape(rollout.reason), highlight=False)
    checks: list[dict[str, Any]] = list(rollout.figures.get("checks") or [])
    if checks:
        print_table(
            ["guardrail", "candidate", "champion", "result"],
            [
                (
                    c["guardrail"],
                    "NaN" if c.get("nan") else fmt_number(c.get("value")) or "no data",
                    fmt_number(c.get("champion")) or "-",
                    c["result"],
                )
                for c in checks
            ],
        )
    for note in rollout.figures.get("notes") or []:
        out.print(f"note: {escape(str(note))}", highlight=False)


@app.command("start")
def start(
    ctx: typer.Context,
    endpoint: Annotated[
        str, typer.Argument(help="The endpoint whose champion it is tried beside.")
    ],
    candidate: Annotated[str, typer.Argument(help="The candidate, NAME@N.")],
    strategy: Annotated[
        str, typer.Option("--strategy", help="canary (a share of requests) or shadow (a copy).")
    ] = "canary",
    weight: Annotated[int, typer.Option("--weight", help="The canary's percent, 1 to 99.")] = 20,
    min_sample: Annotated[
        int, typer.Option("--min-sample", help="Requests the candidate answers before a verdict.")
    ] = 200,
    watch: Annotated[
        str, typer.Option("--watch", help="When the verdict is due: 10m, 1h.")
    ] = "10m",
    guardrails: Annotated[
        list[str] | None,
        typer.Option(
            "--guardrail",
            help='METRIC OP NUMBER, e.g. "error_rate <= 0.01" (repeatable; default: error and '
            "rejection rates).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Put CANDIDATE live beside ENDPOINT's champion, watched by guardrails."""
    from mloop.rollouts import parse_rollout_config, start_rollout

    table: dict[str, Any] = {
        "strategy": strategy,
        "weight": weight,
        "min_sample": min_sample,
        "watch": watch,
    }
    if guardrails:
        table["guardrails"] = list(guardrails)
    config = parse_rollout_config(table, where="rollout")
    with open_workspace(ctx) as ws:
        found = start_rollout(
            ws, endpoint=endpoint, candidate=candidate, config=config, actor=ws.user
        )
    if as_json:
        print_json(found.to_dict())
        return
    typer.echo(f"rollout={found.id}")
    _show(found)


@app.command("show")
def show(ctx: typer.Context, rollout: RolloutArgument, as_json: JsonOption = False) -> None:
    """One rollout: its guardrails with the candidate's and the champion's figures."""
    from mloop.rollouts import get_rollout

    with open_workspace(ctx) as ws:
        found = get_rollout(ws.store, rollout)
    if as_json:
        print_json(found.to_dict())
        return
    _show(found)


def _job_line(ws: Any, rollout: Rollout) -> str | None:
    """What became of the retraining job that owns a decided rollout (the verdict ends it)."""
    if rollout.job_id is None or not rollout.decided:
        return None
    from mloop.loop.jobs import get_job

    job = get_job(ws.store, rollout.job_id)
    if job.status == "running" and job.lease_owner is not None:
        return (
            f"job {job.id} is still running: {job.lease_owner} holds its lease, and the first "
            "check after it lets go ends it (the agent's next tick, or this command again)."
        )
    return f"job {job.id} {job.status} (`mloop jobs show {job.id}`)"


@app.command("check")
def check(ctx: typer.Context, rollout: RolloutArgument, as_json: JsonOption = False) -> None:
    """Measure the guardrails now and apply the verdict if there is one (exit 1: rolled back)."""
    from mloop.rollouts import ROLLED_BACK, check_rollout

    with open_workspace(ctx) as ws:
        found = check_rollout(ws, rollout)
        owner = _job_line(ws, found)
    if as_json:
        print_json(found.to_dict())
    else:
        _show(found)
        if owner:
            console().print(escape(owner), highlight=False)
    if found.status == ROLLED_BACK:
        raise typer.Exit(1)
