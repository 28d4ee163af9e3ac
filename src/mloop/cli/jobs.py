"""`mloop jobs ls|show`: batch jobs (``mloop predict``) with what they read, wrote and counted,
and retraining jobs (``mloop retrain``, the agent) with their trigger, attempts, what they made
and why they ended.

JOB is a job id or a unique prefix of one.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from mloop.cli.context import check_endpoint_filter, open_workspace
from mloop.cli.output import JsonOption, console, fmt_time, print_json, print_table

app = typer.Typer(
    help="Jobs: batch scoring (model, inputs, outputs, counts) and retraining (trigger, "
    "attempts, runs, versions, revisions, reason).",
    no_args_is_help=True,
)


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def _count(counts: dict[str, Any], key: str) -> str:
    value = counts.get(key)
    return "" if value is None else f"{value:,}"


def _trigger(trigger: dict[str, Any]) -> str:
    kind = str(trigger.get("kind", ""))
    detail = trigger.get("alert") or trigger.get("cron") or trigger.get("version") or ""
    return f"{kind} {detail}".strip()


def _made(job: Any) -> str:
    return ", ".join(job.outputs.get("model_versions", []))


def _with_retraining(store: Any, jobs: list[Any]) -> list[Any]:
    """Batch rows, with each retraining job read in full (trigger, outputs, lease)."""
    from mloop.loop.jobs import jobs_by_id

    full = jobs_by_id(store, [job.id for job in jobs if job.kind == "retrain"])
    return [full.get(job.id, job) for job in jobs]


@app.command("ls")
def ls(
    ctx: typer.Context,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only jobs of this kind (predict, retrain).")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="Only retraining jobs of this endpoint.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", help="At most this many jobs.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first."""
    from mloop.batch.jobs import list_jobs
    from mloop.errors import InvalidInput

    if kind not in (None, "predict", "retrain"):
        raise InvalidInput(f"--kind must be predict or retrain, not {kind!r}.")
    if limit < 1:
        raise InvalidInput(f"--limit must be 1 or more; got {limit}.")
    if endpoint is not None and kind == "predict":
        raise InvalidInput(
            "--endpoint lists retraining jobs, and --kind predict asks for batch ones; "
            "drop one of them."
        )
    with open_workspace(ctx) as ws:
        if endpoint is not None:
            from mloop.loop.jobs import list_jobs as list_retraining

            jobs: list[Any] = list_retraining(ws.store, endpoint=endpoint)[:limit]
            if not jobs:
                check_endpoint_filter(ws, endpoint)
        else:
            jobs = _with_retraining(ws.store, list_jobs(ws.store, kind=kind, limit=limit))
    if as_json:
        print_json([job.to_dict() for job in jobs])
        return
    retraining = endpoint is not None or kind == "retrain"
    if retraining or any(job.to_dict()["kind"] == "retrain" for job in jobs):
        _retraining_table(jobs)
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


def _retraining_table(jobs: list[Any]) -> None:
    rows = []
    for job in jobs:
        shown = job.to_dict()
        if shown["kind"] == "retrain":
            rows.append(
                (
                    job.id,
                    "retrain",
                    job.status,
                    job.endpoint,
                    _trigger(job.trigger),
                    str(job.attempts),
                    _made(job),
                    fmt_time(job.created_at),
                    fmt_time(job.ended_at),
                    job.reason or "",
                )
            )
        else:
            rows.append(
                (
                    job.id,
                    job.kind,
                    job.status,
                    job.model or "",
                    "",
                    "",
                    "",
                    fmt_time(job.started_at),
                    fmt_time(job.ended_at),
                    job.error or "",
                )
            )
    print_table(
        [
            "job",
            "kind",
            "status",
            "endpoint/model",
            "trigger",
            "attempts",
            "made",
            "created",
            "ended",
            "reason",
        ],
        rows,
    )


def _show_retraining(job: Any) -> None:
    out = console()
    out.print(
        f"[bold]job {job.id}[/]  retrain  {job.status}  endpoint={escape(job.endpoint)}  "
        f"attempts={job.attempts}  by={escape(job.created_by)}"
    )
    out.print(
        f"created {fmt_time(job.created_at)}  updated {fmt_time(job.updated_at) or '-'}  "
        f"ended {fmt_time(job.ended_at) or '-'}"
    )
    if job.reason:
        out.print(f"reason: {escape(job.reason)}")
    shown = job.to_dict()
    rows = [(f"trigger.{k}", str(v)) for k, v in job.trigger.items()]
    if job.joined_job_id:
        rows.append(("joined", job.joined_job_id))
    for key in ("dataset", "verdict_id", "rollout_id", "lease_owner", "lease_expires_at"):
        if shown.get(key):
            rows.append((key, str(shown[key])))
    for key in ("runs", "model_versions", "revisions", "steps"):
        if shown.get(key):
            rows.append((key, ", ".join(str(v) for v in shown[key])))
    print_table(["field", "value"], rows)


@app.command("show")
def show(
    ctx: typer.Context,
    job: Annotated[str, typer.Argument(help="Job id or a unique prefix of one.")],
    as_json: JsonOption = False,
) -> None:
    """One job. Batch: model version, params, files with their hashes, counts, error.
    Retraining: trigger, attempts, dataset, runs, model versions, verdict, rollout, revisions,
    and the reason it ended."""
    from mloop.batch.jobs import get_job

    with open_workspace(ctx) as ws:
        found: Any = _with_retraining(ws.store, [get_job(ws.store, job)])[0]
    if as_json:
        print_json(found.to_dict())
        return
    if found.to_dict()["kind"] == "retrain":
        _show_retraining(found)
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
