"""Guarded rollouts: a candidate goes live beside the champion, and its guardrails decide.

- ``start_rollout`` writes the endpoint's next revision, the champion as primary (following
  its alias as before) with the candidate pinned beside it as a canary at ``weight`` percent
  or as a shadow, plus the ``rollouts`` row and an audit entry: one transaction.
- ``check_rollout`` measures the candidate and the champion on the log since the start
  (``figures``), judges them (``verdict``) and, once there is a verdict, applies it in one
  transaction: on a pass the alias the champion's slot follows moves to the candidate (reason
  and the gate verdict cited) and a new revision serves the candidate alone, following that
  alias; on a fail a new revision serves the champion alone at once. Either way the verdict is
  stored on the candidate (``gate_verdicts``, gate ``guardrails``, with the figures), the
  rollout row says what happened and why, and the audit log has an entry. Idempotent: a decided
  rollout is returned as it is, and two checkers racing decide it once (the endpoint row lock).
- The retraining job that owns the rollout ends in the verdict's transaction (``_end_job``):
  promoted → ``succeeded``, rolled back → ``rejected``, with the rollout's reason, whoever
  checked (the agent, a waiting ``mloop retrain``, or a person), so ``mloop jobs show`` is right
  at once and the agent's next tick finds nothing left to do.
- A champion served pinned (``NAME@N``, no alias), or a candidate of another model, has no
  alias to move: a pass serves the candidate pinned.
- If someone changes the endpoint by hand while a rollout is watched (the candidate no longer
  beside the champion), the rollout ends ``rolled_back`` without touching the endpoint.

Who calls ``check_rollout``: the agent, on its loop; people with ``mloop rollouts check``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from mloop import audit
from mloop.endpoints.revisions import ModelSlot, NewRevision, Revision, revisions_by_id
from mloop.endpoints.writing import locked_endpoint
from mloop.endpoints.writing import write_revision as append_revision
from mloop.errors import AlreadyExists, InvalidInput
from mloop.ids import new_id
from mloop.predlog import folder_for
from mloop.predlog.timespec import as_utc
from mloop.registry.aliases import current_holder, move_alias
from mloop.registry.exports import exports_in
from mloop.registry.versions import resolve_in
from mloop.rollouts.config import RolloutConfig
from mloop.rollouts.figures import Side, measure_rollout, plain
from mloop.rollouts.records import (
    PROMOTED,
    ROLLED_BACK,
    WATCHING,
    Rollout,
    find_rollout,
    read_rollouts,
)
from mloop.rollouts.verdict import Judgement, duration_text, judge
from mloop.store import Store
from mloop.store import tables as t
from mloop.workspace import Workspace

GATE = "guardrails"


def _live(conn: sa.Connection, row: Any) -> Revision | None:
    live_id = row.live_revision_id
    return revisions_by_id(conn, [live_id]).get(live_id) if live_id else None


def _watching(conn: sa.Connection, endpoint: str) -> Rollout | None:
    r = t.rollouts
    found = read_rollouts(conn, r.c.endpoint == endpoint, r.c.status == WATCHING, limit=1)
    return found[0] if found else None


def _candidate_slot(conn: sa.Connection, candidate: str, champion: Revision) -> ModelSlot:
    version = resolve_in(conn, candidate)
    if version.id == champion.primary.version_id:
        raise InvalidInput(
            f"{candidate} is the champion {champion.primary.ref} that endpoint "
            f"{champion.endpoint!r} serves already; roll out another version."
        )
    primary = resolve_in(conn, champion.primary.ref)
    mine, theirs = primary.signature.target, version.signature.target
    if mine and theirs and mine != theirs:
        raise InvalidInput(
            f"{version.ref} predicts {theirs!r} but the champion {primary.ref} predicts "
            f"{mine!r}; a candidate must answer the same question."
        )
    return ModelSlot(version.id, version.name, version.version, None, version.artifact_hash)


def start_rollout(
    ws: Workspace,
    *,
    endpoint: str,
    candidate: str,
    config: RolloutConfig,
    job_id: str | None = None,
    verdict_id: str | None = None,
    actor: str,
) -> Rollout:
    """Put ``candidate`` (``NAME@N``) live beside ``endpoint``'s champion, watched by guardrails.

    Raises ``NotFound`` for an unknown endpoint or version, ``AlreadyExists`` while another
    rollout of the endpoint is watched, ``InvalidInput`` when the endpoint serves nothing, already
    has a canary or shadow, or the candidate is the champion or predicts another target.
    """
    thresholds = config.thresholds()
    store = ws.store
    rollout_id = new_id()
    with store.transaction() as conn:
        row = locked_endpoint(conn, endpoint)
        live = _live(conn, row)
        if live is None:
            raise InvalidInput(
                f"Endpoint {endpoint!r} serves nothing to roll a candidate out beside; "
                f"`mloop deploy {endpoint} MODEL_REF` first."
            )
        active = _watching(conn, endpoint)
        if active is not None:
            raise AlreadyExists(
                f"Endpoint {endpoint!r} is already rolling out {active.candidate} (rollout "
                f"{active.id}); one rollout at a time: `mloop rollouts check {active.id}`."
            )
        if live.canary is not None or live.shadow is not None:
            raise InvalidInput(
                f"Endpoint {endpoint!r} already serves {live.describe()}; a rollout starts from "
                f"the champion alone (`mloop deploy {endpoint} MODEL_REF` without --canary or "
                "--shadow)."
            )
        slot = _candidate_slot(conn, candidate, live)
        runtime, note = live.runtime, ""
        if runtime == "onnx" and slot.version_id not in exports_in(conn, [slot.version_id], "onnx"):
            runtime, note = "python", f"; no checked ONNX export of {slot.ref}, so served by python"
        canary = config.strategy == "canary"
        share = f"at {config.weight}%" if canary else "as shadow"
        reason = (
            f"rollout {rollout_id}: {slot.ref} {share} beside {live.primary.ref}, "
            f"watched for {duration_text(config.watch_seconds)} "
            f"(min_sample {config.min_sample}; {', '.join(config.guardrails)}){note}"
        )
        new = NewRevision(
            primary=live.primary,
            canary=slot if canary else None,
            canary_weight=config.weight if canary else None,
            shadow=None if canary else slot,
            runtime=runtime,
            staged=False,
            action=config.strategy,
            reason=reason,
        )
        revision = append_revision(conn, row, new, actor=actor, previous=live)
        conn.execute(
            t.rollouts.insert().values(
                id=rollout_id,
                job_id=job_id,
                endpoint=endpoint,
                strategy=config.strategy,
                candidate_version_id=slot.version_id,
                champion_version_id=live.primary.version_id,
                weight=config.weight if canary else None,
                min_sample=config.min_sample,
                watch_seconds=config.watch_seconds,
                guardrails=[str(g) for g in thresholds],
                status=WATCHING,
                figures={"gate_verdict_id": verdict_id} if verdict_id else {},
                reason=None,
                started_revision=revision.number,
                started_at=revision.created_at,
                created_by=actor,
            )
        )
        audit.record(
            conn,
            actor=actor,
            action="rollout_start",
            model=slot.model,
            subject=f"endpoint {endpoint}",
            from_value=live.primary.ref,
            to_value=slot.ref,
            reason=reason,
            verdict_id=verdict_id,
            details={"rollout": rollout_id, "job_id": job_id, **config.to_dict()},
        )
        (started,) = read_rollouts(conn, t.rollouts.c.id == rollout_id)
    return started


def active_rollout(ws: Workspace, endpoint: str) -> Rollout | None:
    """The rollout of ``endpoint`` being watched now, if any."""
    with ws.store.read() as conn:
        return _watching(conn, endpoint)


def get_rollout(store: Store, rollout_id: str) -> Rollout:
    """One rollout by id (or unique prefix); ``NotFound`` when there is none."""
    with store.read() as conn:
        return find_rollout(conn, rollout_id)


def list_rollouts(
    store: Store, *, endpoint: str | None = None, limit: int | None = None
) -> list[Rollout]:
    """Rollouts, newest first (of ``endpoint`` only, when given)."""
    where = [] if endpoint is None else [t.rollouts.c.endpoint == endpoint]
    with store.read() as conn:
        return read_rollouts(conn, *where, limit=limit)


def _figures(
    rollout: Rollout, judgement: Judgement, measured: Any, end: dt.datetime
) -> dict[str, Any]:
    kept = {k: rollout.figures[k] for k in ("gate_verdict_id",) if k in rollout.figures}
    return {
        **kept,
        "window": {"start": rollout.started_at.isoformat(), "end": end.isoformat()},
        "requests": measured.requests,
        "min_sample": rollout.min_sample,
        "candidate": {k: plain(v) for k, v in sorted(measured.candidate.items())},
        "champion": {k: plain(v) for k, v in sorted(measured.champion.items())},
        "checks": judgement.checks,
        "notes": list(measured.notes),
        "summary": judgement.reason,
    }


def check_rollout(ws: Workspace, rollout_id: str, *, now: dt.datetime | None = None) -> Rollout:
    """Measure the rollout's guardrails on the log since it started and decide when due.

    Returns the rollout as it stands (``watching``, ``promoted`` or ``rolled_back``); a decided
    rollout is returned unchanged. Raises ``NotFound`` for an unknown rollout id.
    """
    store = ws.store
    rollout = get_rollout(store, rollout_id)
    if rollout.decided:
        if rollout.job_id is not None:  # decided while its job's lease was held: end it now
            with store.transaction() as conn:
                _end_job(conn, rollout)
        return rollout
    end = as_utc(now or dt.datetime.now(dt.UTC))
    with store.read() as conn:
        champion_slot = _slot_of(conn, rollout.champion_version_id)
        candidate_slot = _slot_of(conn, rollout.candidate_version_id)
    role = "canary" if rollout.strategy == "canary" else "shadow"
    config_thresholds = RolloutConfig(guardrails=rollout.guardrails).thresholds()
    measured = measure_rollout(
        store,
        ws.artifacts,
        folder_for(ws.settings),
        rollout.endpoint,
        candidate=Side(candidate_slot.model, candidate_slot.version, role),
        champion=Side(champion_slot.model, champion_slot.version, "primary"),
        guardrails=config_thresholds,
        start=rollout.started_at,
        end=end,
    )
    judgement = judge(
        config_thresholds,
        measured,
        min_sample=rollout.min_sample,
        elapsed_s=(end - rollout.started_at).total_seconds(),
        watch_s=rollout.watch_seconds,
    )
    figures = _figures(rollout, judgement, measured, end)
    with store.transaction() as conn:
        row = locked_endpoint(conn, rollout.endpoint, deleted_ok=True)
        (current,) = read_rollouts(conn, t.rollouts.c.id == rollout.id)
        if current.decided:
            _end_job(conn, current)
            return current
        live = _live(conn, row) if row.deleted_at is None else None
        if judgement.outcome == "watching" and _serves_candidate(live, current):
            conn.execute(
                t.rollouts.update()
                .where(t.rollouts.c.id == rollout.id)
                .values(figures=figures, reason=judgement.reason)
            )
        else:
            _decide(conn, store, row, live, current, judgement, figures, actor=ws.user)
        (result,) = read_rollouts(conn, t.rollouts.c.id == rollout.id)
        _end_job(conn, result)
    return result


def job_outcome(rollout: Rollout) -> tuple[str, str]:
    """The status and reason a decided rollout gives the retraining job that owns it."""
    if rollout.status == PROMOTED:
        return "succeeded", rollout.reason or f"rollout {rollout.id} promoted the candidate"
    return "rejected", rollout.reason or f"rollout {rollout.id} rolled the candidate back"


def _end_job(conn: sa.Connection, rollout: Rollout) -> None:
    """End the job that owns the decided ``rollout``, in the caller's transaction.

    Only a job watching its rollout (running, no lease) is ended, by a conditional update, as
    ``mloop.loop.jobs.finish`` does (the loop sits above rollouts, so the rule is kept here
    too): while an agent or a foreground retrain holds the lease (from starting the rollout
    until it lets go to watch it) the job is the holder's, and the first check after it let go
    ends it. A job already ended is left alone, so no two checkers end it twice.
    """
    if rollout.job_id is None or not rollout.decided:
        return
    j = t.jobs
    watched = (
        j.c.id == rollout.job_id,
        j.c.kind == "retrain",
        j.c.status == "running",
        j.c.lease_owner.is_(None),
    )
    row = conn.execute(sa.select(j.c.outputs).where(*watched).with_for_update()).first()
    if row is None:
        return
    outputs = dict(row.outputs or {})
    known = list(outputs.get("revisions", []))
    made = (rollout.started_revision, rollout.decided_revision)
    outputs["revisions"] = [*known, *(n for n in made if n and n not in known)]
    status, reason = job_outcome(rollout)
    now = dt.datetime.now(dt.UTC)
    conn.execute(
        j.update()
        .where(*watched)
        .values(
            status=status,
            reason=reason,
            error=None,
            outputs=outputs,
            ended_at=now,
            updated_at=now,
        )
    )


def _slot_of(conn: sa.Connection, version_id: str) -> ModelSlot:
    found = conn.execute(
        sa.select(t.models.c.name, t.model_versions.c.version, t.model_versions.c.artifact_hash)
        .join(t.models, t.models.c.id == t.model_versions.c.model_id)
        .where(t.model_versions.c.id == version_id)
    ).one()
    return ModelSlot(version_id, found.name, int(found.version), None, found.artifact_hash)


def _store_verdict(
    conn: sa.Connection,
    rollout: Rollout,
    alias: str | None,
    passed: bool,
    figures: dict[str, Any],
    actor: str,
) -> str:
    verdict_id = new_id()
    conn.execute(
        t.gate_verdicts.insert().values(
            id=verdict_id,
            model_version_id=rollout.candidate_version_id,
            alias=alias or "",
            gate=GATE,
            passed=passed,
            checks={"rollout": rollout.id, "endpoint": rollout.endpoint, **figures},
            created_at=dt.datetime.now(dt.UTC),
            actor=actor,
        )
    )
    return verdict_id


def _serves_candidate(live: Revision | None, rollout: Rollout) -> bool:
    """Whether the endpoint's live revision (None: deleted or nothing live) still has the
    candidate beside its primary.

    Checked at every check, not only when a verdict is due: an endpoint changed by hand
    mid-watch ends the rollout at once, rather than holding off every other rollout and
    retraining of the endpoint until the watch runs out on figures the candidate never made.
    """
    return live is not None and live.beside_primary(rollout.candidate_version_id) is not None


def _decide(
    conn: sa.Connection,
    store: Store,
    row: Any,
    live: Revision | None,
    rollout: Rollout,
    judgement: Judgement,
    figures: dict[str, Any],
    *,
    actor: str,
) -> None:
    """Apply a verdict inside the caller's transaction (the endpoint row is locked; ``live``
    is its live revision, read under that lock)."""
    serving = _serves_candidate(live, rollout)
    passed = judgement.outcome == "pass"
    now = dt.datetime.now(dt.UTC)
    decided_revision = None
    if live is None or not serving:
        status = ROLLED_BACK
        where = "was deleted" if live is None else f"now serves r{live.number} {live.describe()}"
        reason = (
            f"endpoint {rollout.endpoint} {where}, changed while the rollout was watched; "
            "it ended without a verdict and nothing was changed"
        )
        passed = False
    else:
        alias = live.primary.alias
        status = PROMOTED if passed else ROLLED_BACK
        verb = "promoted" if passed else "rolled back"
        reason = f"rollout {rollout.id}: {rollout.candidate} {verb}: {judgement.reason}"
        verdict_id = _store_verdict(conn, rollout, alias, passed, figures, actor)
        figures = {**figures, "verdict_id": verdict_id}
        if passed:
            candidate = _slot_of(conn, rollout.candidate_version_id)
            if alias is not None and candidate.model == live.primary.model:
                version = resolve_in(conn, rollout.candidate)
                move_alias(
                    conn,
                    store,
                    model=candidate.model,
                    model_id=version.model_id,
                    alias=alias,
                    to_version_id=candidate.version_id,
                    expected_from=current_holder(conn, version.model_id, alias),
                    action="promote",
                    actor=actor,
                    reason=reason,
                    verdict_id=rollout.gate_verdict_id or verdict_id,
                )
                primary = ModelSlot(
                    candidate.version_id,
                    candidate.model,
                    candidate.version,
                    alias,
                    candidate.artifact_hash,
                )
            else:
                primary = candidate
            runtime = live.runtime
            if runtime == "onnx" and primary.version_id not in exports_in(
                conn, [primary.version_id], "onnx"
            ):
                runtime = "python"
            new = NewRevision(
                primary=primary,
                canary=None,
                canary_weight=None,
                shadow=None,
                runtime=runtime,
                staged=False,
                action="promote",
                reason=reason,
            )
        else:
            new = NewRevision(
                primary=live.primary,
                canary=None,
                canary_weight=None,
                shadow=None,
                runtime=live.runtime,
                staged=False,
                action="revert",
                reason=reason,
            )
        decided_revision = append_revision(conn, row, new, actor=actor, previous=live).number
    conn.execute(
        t.rollouts.update()
        .where(t.rollouts.c.id == rollout.id)
        .values(
            status=status,
            figures=figures,
            reason=reason,
            decided_revision=decided_revision,
            decided_at=now,
        )
    )
    audit.record(
        conn,
        actor=actor,
        action="rollout_promoted" if status == PROMOTED else "rollout_rolled_back",
        model=rollout.candidate.rsplit("@", 1)[0],
        subject=f"endpoint {rollout.endpoint}",
        from_value=rollout.champion if passed else rollout.candidate,
        to_value=rollout.candidate if passed else rollout.champion,
        reason=reason,
        verdict_id=figures.get("verdict_id"),
        details={"rollout": rollout.id, "job_id": rollout.job_id, "figures": figures},
    )
