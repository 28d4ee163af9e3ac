"""`mloop retrain ENDPOINT`: a manual trigger of the endpoint's retraining policy.

Joined to the active job (or the cool-down) when there is one: exit 0, naming it. Otherwise the
job waits for a running `mloop agent`, or, with none running, runs here in the foreground.
Exit 0 when the job succeeded, was queued or coalesced; 1 when it was rejected or failed.
When it returns with the job (or the one it joined) not over and no agent running (`--no-wait`
leaves a live rollout behind), stderr says that nothing will decide it until an agent runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mloop.cli.context import open_workspace
from mloop.cli.output import JsonOption, chatter_to_stderr, err_console, print_json


def _say(message: str) -> None:
    err_console().print(message, highlight=False, markup=False)


def retrain(
    ctx: typer.Context,
    endpoint: Annotated[str, typer.Argument(help="Endpoint whose [policies.ENDPOINT] to run.")],
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why, recorded on the job's trigger.")
    ] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait/--no-wait",
            help="Wait until the job ends, its rollout decided (default). --no-wait returns once "
            "the job is queued for an agent or, with none running, once its rollout is live.",
        ),
    ] = True,
    as_json: JsonOption = False,
) -> None:
    """Retrain ENDPOINT now: data → train → register → gate → rollout, as its policy says."""
    from mloop.loop.retrain import follow, request_retrain, run_foreground, unattended

    with open_workspace(ctx) as ws, chatter_to_stderr():
        request = request_retrain(ws, endpoint, reason=reason)
        job = request.recorded.job
        waiting = request.waiting
        if request.recorded.coalesced:
            _say(f"job {job.id} coalesced: {job.reason}")
        if request.agents and not request.recorded.coalesced:
            _say(f"job {job.id} queued for agent {request.agents[0]}")
            if wait:
                job = follow(ws, request.policy, job.id, say=_say)
        elif waiting is not None:
            _say(f"job {waiting.id}: no agent is running; running it here")
            ran = run_foreground(ws, request.policy, waiting.id, wait=wait, say=_say)
            job = ran if waiting.id == job.id else job
        notice = unattended(ws, job.joined_job_id or job.id)
        if notice is not None:
            _say(notice)
    if as_json:
        print_json(
            {
                **job.to_dict(),
                "joined": None
                if request.recorded.joined is None
                else request.recorded.joined.to_dict(),
            }
        )
    else:
        typer.echo(f"job={job.id}")
        typer.echo(f"status={job.status}")
        if job.joined_job_id:
            typer.echo(f"joined={job.joined_job_id}")
        for ref in job.outputs.get("model_versions", []):
            typer.echo(f"model={ref}")
        if job.outputs.get("rollout_id"):
            typer.echo(f"rollout={job.outputs['rollout_id']}")
        if job.reason:
            typer.echo(f"reason={job.reason}")
    if job.status in ("rejected", "failed"):
        raise typer.Exit(1)
