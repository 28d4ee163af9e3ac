"""What a retraining job does: data → train → register → gate → rollout (or promotion).

Each step's result is written on the job as soon as it exists (``jobs.record_outputs``), so an
agent killed mid-job loses nothing: the retry finds the candidate already registered and goes on
from the gate instead of training again. Between steps the lease is checked, so a job taken over
by another agent (after this one's lease lapsed) is not finished twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa

from mloop.errors import InvalidInput, NotFound
from mloop.loop import jobs
from mloop.loop.gating import check_gate
from mloop.loop.lease import Lease
from mloop.loop.policy import PIPELINE_DATA_PARAM, Policy
from mloop.registry.versions import ModelVersion, resolve
from mloop.rollouts import check_rollout, start_rollout
from mloop.store import tables as t
from mloop.workspace import Workspace

Say = Callable[[str], None]


@dataclass(frozen=True)
class Outcome:
    status: Literal["succeeded", "rejected", "failed", "watching"]
    reason: str
    rollout_id: str | None = None


def unserved_policy(
    ws: Workspace, endpoint: str, names: Collection[str] | None = None
) -> str | None:
    """Why ``[policies.ENDPOINT]`` cannot run (one sentence: the name and the fix), or None.

    A policy is named after the endpoint it retrains: the endpoint's live revision says which
    alias the candidate is gated against and takes, and its log and rollout are the endpoint's.
    A policy naming no endpoint would fall back to ``champion`` and move the alias that real
    endpoints follow, so it is refused before anything is trained, let alone promoted.
    """
    import difflib

    from mloop.data.refs import shortlist
    from mloop.endpoints.service import endpoint_names

    known = sorted(endpoint_names(ws.store) if names is None else names)
    if endpoint in known:
        return None
    head = (
        f"[policies.{endpoint}] in mloop.toml retrains endpoint {endpoint!r}, which is not deployed"
    )
    deploy = f"deploy it first (`mloop deploy {endpoint} MODEL_REF`)"
    if not known:
        return f"{head} (this workspace has no endpoints yet); {deploy}."
    example = (difflib.get_close_matches(endpoint, known, n=1, cutoff=0.6) or known)[0]
    return (
        f"{head} (endpoints are: {shortlist(known)}); a policy is named after the endpoint it "
        f"retrains, so rename the table (e.g. [policies.{example}]) or {deploy}."
    )


def check_served(ws: Workspace, policy: Policy) -> None:
    """``NotFound`` when the policy names no deployed endpoint (see ``unserved_policy``)."""
    problem = unserved_policy(ws, policy.endpoint)
    if problem is not None:
        raise NotFound(problem)


def _live_alias(ws: Workspace, endpoint: str, model: str | None) -> tuple[str, ModelVersion | None]:
    """The alias the endpoint's live primary follows for ``model`` (any model when None;
    ``champion`` by default), and the version it serves."""
    from mloop.endpoints.service import get_endpoint

    try:
        live = get_endpoint(ws.store, endpoint).live
    except NotFound:
        return "champion", None
    if live is None or (model is not None and live.primary.model != model):
        return "champion", None
    return live.primary.alias or "champion", resolve(ws.store, live.primary.ref)


def _dataset(ws: Workspace, policy: Policy, job: jobs.RetrainJob, lease: Lease, say: Say) -> str:
    if policy.data.log is not None:
        from mloop.loop.log_data import snapshot_log

        assert policy.data.dataset is not None and policy.train.target is not None
        # a pipeline policy names no model: the log is checked against what answered it
        _, serving = _live_alias(ws, policy.endpoint, policy.train.register)
        version = snapshot_log(
            ws,
            policy.endpoint,
            window=policy.data.log,
            target=policy.train.target,
            dataset=policy.data.dataset,
            model=serving,
        )
        say(f"snapshotted the labelled log ({policy.data.log}) as {version.ref}")
    else:
        from mloop.data.datasets import get_version

        version = get_version(ws.store, f"{policy.data.dataset}@{policy.data.version}")
        say(f"data {version.ref} ({version.row_count} rows)")
    lease.check()
    jobs.record_outputs(
        ws.store, job.id, owner=lease.owner, add={"dataset": version.ref, "steps": ["data"]}
    )
    return version.ref


def _train(
    ws: Workspace, policy: Policy, job: jobs.RetrainJob, data: str, lease: Lease, say: Say
) -> str:
    from mloop.training.train import train

    spec = policy.train
    assert spec.target is not None
    result = train(
        ws.store,
        ws.artifacts,
        data=data,
        target=spec.target,
        user=ws.user,
        root=ws.root,
        model=spec.model,
        params=spec.params,
        test_size=spec.test_size,
        seed=spec.seed,
        experiment=spec.experiment,
        drop=spec.drop,
    )
    shown = ", ".join(f"{k}={v:.4g}" for k, v in result.metrics.items())
    say(f"trained run {result.run_id} on {data} ({shown})")
    jobs.record_outputs(
        ws.store, job.id, owner=lease.owner, add={"runs": [result.run_id], "steps": ["train"]}
    )
    lease.check()
    return result.run_id


def _pipeline(
    ws: Workspace, policy: Policy, job: jobs.RetrainJob, lease: Lease, say: Say
) -> ModelVersion:
    """Run the policy's pipeline; the model version its steps registered is the candidate."""
    from mloop.pipelines import run_pipeline

    assert policy.train.pipeline is not None
    params = dict(policy.train.params)
    if policy.data.dataset is not None:
        _check_takes_data(ws, policy.train.pipeline)
        params[PIPELINE_DATA_PARAM] = _dataset(ws, policy, job, lease, say)
    run = run_pipeline(ws, policy.train.pipeline, params)
    made = {"pipeline_runs": [run.id], "steps": ["pipeline"]}
    made["runs"] = [
        str(step.outputs.get("run_id")) for step in run.steps if step.outputs.get("run_id")
    ]
    if run.model:
        made["model_versions"] = [run.model]
    candidate = resolve(ws.store, run.model) if run.model else None
    jobs.record_outputs(
        ws.store,
        job.id,
        owner=lease.owner,
        add=made,
        model_version_id=None if candidate is None else candidate.id,
    )
    if run.status != "succeeded":
        raise InvalidInput(f"Pipeline {run.pipeline} run {run.id} {run.status}: {run.error}")
    if candidate is None:
        raise InvalidInput(
            f"Pipeline {run.pipeline} (run {run.id}) returned no registered model version; make a "
            "step return the ModelVersion it registers (mloop.register_model)."
        )
    if policy.train.register and candidate.name != policy.train.register:
        raise InvalidInput(
            f"Pipeline {run.pipeline} registered {candidate.ref}, but [policies.{policy.endpoint}] "
            f"train.register is {policy.train.register!r}; make them agree."
        )
    say(f"pipeline {run.pipeline} ran ({run.id}) and made {candidate.ref}")
    lease.check()
    return candidate


def _check_takes_data(ws: Workspace, target: str) -> None:
    """Before any snapshot is made: the pipeline must have a parameter to receive ``data``."""
    from mloop.pipelines.runner import pipeline_parameters

    if PIPELINE_DATA_PARAM not in pipeline_parameters(ws, target):
        raise InvalidInput(
            f"The policy gives data, which is passed to pipeline {target!r} as its "
            f"{PIPELINE_DATA_PARAM!r} parameter, and it has none; add `{PIPELINE_DATA_PARAM}: "
            "str` to the pipeline's parameters (a dataset ref like churn@4 arrives there), or "
            "remove data from the policy."
        )


def _register(
    ws: Workspace, policy: Policy, job: jobs.RetrainJob, run_id: str, lease: Lease, say: Say
) -> ModelVersion:
    from mloop.registry.register import register_run

    assert policy.train.register is not None  # required unless a pipeline registers
    version = register_run(
        ws.store, ws.artifacts, run_id=run_id, name=policy.train.register, actor=ws.user
    )
    say(f"registered {version.ref}")
    jobs.record_outputs(
        ws.store,
        job.id,
        owner=lease.owner,
        add={"model_versions": [version.ref], "steps": ["register"]},
        model_version_id=version.id,
    )
    return version


def _candidate(ws: Workspace, job: jobs.RetrainJob) -> ModelVersion | None:
    """The version an earlier attempt of this job registered, if it got that far."""
    made = job.outputs.get("model_versions") or []
    return resolve(ws.store, made[-1]) if made else None


def _revisions(ws: Workspace, rollout_id: str) -> list[int]:
    with ws.store.read() as conn:
        row = conn.execute(
            sa.select(t.rollouts.c.started_revision, t.rollouts.c.decided_revision).where(
                t.rollouts.c.id == rollout_id
            )
        ).first()
    return [] if row is None else [n for n in (row.started_revision, row.decided_revision) if n]


def _promote(
    ws: Workspace,
    policy: Policy,
    candidate: ModelVersion,
    alias: str,
    verdict_id: str | None,
    job: jobs.RetrainJob,
) -> list[int]:
    """No rollout declared: the gated candidate takes the alias, endpoints following it move."""
    from mloop.endpoints.following import follow_aliases
    from mloop.registry.aliases import current_holder, move_alias
    from mloop.store.sequences import lock_parent

    with ws.store.transaction() as conn:
        lock_parent(conn, t.models, candidate.model_id)
        move_alias(
            conn,
            ws.store,
            model=candidate.name,
            model_id=candidate.model_id,
            alias=alias,
            to_version_id=candidate.id,
            expected_from=current_holder(conn, candidate.model_id, alias),
            action="promote",
            actor=ws.user,
            reason=f"retraining job {job.id}",
            forced=False,
            verdict_id=verdict_id,
        )
    return [revision.number for revision in follow_aliases(ws.store, ws.user)]


def run_job(
    ws: Workspace, policy: Policy, job: jobs.RetrainJob, *, lease: Lease, say: Say
) -> Outcome:
    """Do ``job``'s work under ``lease``, up to a live rollout (``watching``) or an end."""
    check_served(ws, policy)  # a trigger may have been recorded before the endpoint went away
    candidate = _candidate(ws, job)
    if candidate is not None:
        say(f"resuming with {candidate.ref}, registered by the interrupted attempt")
    else:
        if policy.train.pipeline is not None:
            candidate = _pipeline(ws, policy, job, lease, say)
        else:
            data = _dataset(ws, policy, job, lease, say)
            run_id = _train(ws, policy, job, data, lease, say)
            candidate = _register(ws, policy, job, run_id, lease, say)
    lease.check()
    alias, _ = _live_alias(ws, policy.endpoint, candidate.name)
    verdict_id = None
    if policy.gate is not None:
        gated = check_gate(ws, gate=policy.gate, candidate=candidate, alias=alias, job_id=job.id)
        verdict_id = gated.verdict_id
        jobs.record_outputs(
            ws.store, job.id, owner=lease.owner, add={"verdict_id": verdict_id, "steps": ["gate"]}
        )
        say(gated.reason)
        if not gated.passed:
            return Outcome("rejected", gated.reason)
    lease.check()
    if policy.rollout is None:
        revisions = _promote(ws, policy, candidate, alias, verdict_id, job)
        jobs.record_outputs(
            ws.store, job.id, owner=lease.owner, add={"revisions": revisions, "steps": ["promote"]}
        )
        return Outcome(
            "succeeded", f"{candidate.ref} is {candidate.name}@{alias} (no rollout declared)"
        )
    rollout = start_rollout(
        ws,
        endpoint=policy.endpoint,
        candidate=candidate.ref,
        config=policy.rollout,
        job_id=job.id,
        verdict_id=verdict_id,
        actor=ws.user,
    )
    jobs.record_outputs(
        ws.store,
        job.id,
        owner=lease.owner,
        add={
            "rollout_id": rollout.id,
            "revisions": _revisions(ws, rollout.id),
            "steps": ["rollout"],
        },
    )
    # who watches it is the caller's to say: an agent or a waiting retrain does, --no-wait not
    say(f"rollout {rollout.id} of {candidate.ref} on {policy.endpoint!r} is live")
    return Outcome("watching", f"watching rollout {rollout.id} of {candidate.ref}", rollout.id)


def drive_rollout(
    ws: Workspace, job: jobs.RetrainJob, *, now: dt.datetime | None = None
) -> Outcome:
    """Check a watched job's rollout once: ``watching`` until its guardrails decide.

    The verdict's transaction ends the job (``mloop.rollouts.service``), so the outcome is the
    job's own, whoever decided the rollout (this check, or a person's `mloop rollouts check`).
    """
    from mloop.rollouts.service import job_outcome

    rollout_id = job.outputs.get("rollout_id")
    if not rollout_id:
        return Outcome("failed", f"job {job.id} is running without a lease or a rollout to watch")
    rollout = check_rollout(ws, rollout_id, now=now)
    if rollout.status == "watching":
        return Outcome("watching", f"watching rollout {rollout_id}", rollout_id)
    ended = jobs.get_job(ws.store, job.id)
    if ended.status in ("succeeded", "rejected", "failed"):
        return Outcome(ended.status, ended.reason or "", rollout_id)
    status, reason = job_outcome(rollout)  # not ended yet: check_watched ends it
    return Outcome("succeeded" if status == "succeeded" else "rejected", reason, rollout_id)
