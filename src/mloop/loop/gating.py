"""The policy's gate, checked on a retrained candidate against the endpoint's champion.

Unlike ``mloop models promote``, a passing verdict moves nothing here: the candidate goes live
through its rollout, which moves the alias only when its guardrails agree. The verdict is stored
either way (on the model version, with an audit entry), so a blocked candidate is on the record
with the numbers that blocked it and is never deployed. A gate that asks for a human approval
cannot pass in an automated job: it blocks, and the reason says how to approve and promote.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from mloop import audit
from mloop.ids import new_id
from mloop.registry.gate_config import get_gate
from mloop.registry.promotion import Verdict, evaluate_promotion
from mloop.registry.versions import ModelVersion
from mloop.store import tables as t
from mloop.workspace import Workspace


@dataclass(frozen=True)
class GateOutcome:
    passed: bool
    verdict_id: str | None
    reason: str
    incumbent: str | None


def _reason(verdict: Verdict, candidate: ModelVersion, alias: str) -> str:
    failed = [c for c in verdict.checks if not c.passed]
    holder = "unset" if verdict.incumbent is None else verdict.incumbent.ref
    if not failed:
        return f"{candidate.ref} passed gate {verdict.gate!r} against {verdict.model}@{alias} ({holder})"
    by_hand = ""
    if any(c.check == "approval" for c in failed):
        by_hand = (
            "; an automated job cannot give a human approval: approve it with `mloop models approve "
            f"{candidate.name} {candidate.version} --note …` and promote it by hand with `mloop "
            f"models promote {candidate.name} {candidate.version} --to {alias}`"
        )
    shown = "; ".join(f"{c.name}: {c.detail}" for c in failed)
    return (
        f"{candidate.ref} blocked by gate {verdict.gate!r} ({shown}); {verdict.model}@{alias} "
        f"stays {holder}{by_hand}"
    )


def check_gate(
    ws: Workspace, *, gate: str, candidate: ModelVersion, alias: str, job_id: str
) -> GateOutcome:
    """Evaluate ``gate`` for ``candidate`` against ``MODEL@alias``; store and audit the verdict."""
    verdict = evaluate_promotion(
        ws.store,
        ws.artifacts,
        name=candidate.name,
        version=candidate.version,
        alias=alias,
        gate=get_gate(ws.settings.gates, gate),
        actor=ws.user,
        reason=f"retraining job {job_id}",
        root=ws.root,
    )
    document = verdict.document() or {}
    verdict_id = new_id()
    reason = _reason(verdict, candidate, alias)
    with ws.store.transaction() as conn:
        conn.execute(
            t.gate_verdicts.insert().values(
                id=verdict_id,
                model_version_id=candidate.id,
                alias=alias,
                gate=gate,
                passed=verdict.passed,
                checks={
                    **{k: v for k, v in document.items() if k not in ("gate", "passed")},
                    "job_id": job_id,
                },
                created_at=dt.datetime.now(dt.UTC),
                actor=ws.user,
            )
        )
        audit.record(
            conn,
            actor=ws.user,
            action="retrain_gate_passed" if verdict.passed else "retrain_gate_blocked",
            subject=f"{candidate.name}@{alias}",
            model=candidate.name,
            from_value=None if verdict.incumbent is None else verdict.incumbent.ref,
            to_value=candidate.ref,
            reason=reason,
            verdict_id=verdict_id,
            details={
                "gate": gate,
                "job_id": job_id,
                "failed": [c.name for c in verdict.checks if not c.passed],
            },
        )
    return GateOutcome(
        passed=verdict.passed,
        verdict_id=verdict_id,
        reason=reason,
        incumbent=None if verdict.incumbent is None else verdict.incumbent.ref,
    )
