"""Promotion: check a gate, store its verdict, and move the alias only if it passed.

Two steps, so serving and the loop can compose them: ``evaluate_promotion`` reads and runs the
gate and returns a ``Verdict``; ``apply_verdict`` writes it (verdict, alias move, audit) in the
caller's transaction. ``promote`` is both, with the CLI's errors.

Every verdict, pass or fail, is stored with its numbers before anything else happens. A failed
gate leaves the alias where it was and raises ``GateFailed`` (exit 1). ``force`` moves the alias
anyway; it needs a reason and is recorded as a forced promotion in the move, the verdict and the
audit log. Losing a race (another process moved the alias while the gate ran) moves nothing
and raises ``AlreadyExists``; the verdict is still stored, marked ``conflict``, and the attempt
is in the audit log as ``promote_conflict``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from mloop import audit
from mloop.artifacts import ArtifactStore
from mloop.errors import AlreadyExists, GateFailed, InvalidInput
from mloop.ids import new_id
from mloop.registry.aliases import (
    AliasMove,
    check_alias,
    current_holder,
    move_alias,
)
from mloop.registry.approvals import list_approvals
from mloop.registry.gate_config import Gate
from mloop.registry.gates import CheckResult, evaluate_gate
from mloop.registry.holdout import load_holdout, require_columns, unseen_by
from mloop.registry.loading import require_intact
from mloop.registry.versions import (
    ModelVersion,
    check_name,
    resolve,
    version_by_id,
)
from mloop.store import Store
from mloop.store import tables as t
from mloop.store.sequences import lock_parent


@dataclass(frozen=True)
class Promotion:
    model: str
    version: int
    alias: str
    gate: str | None
    passed: bool
    forced: bool
    verdict_id: str | None
    checks: list[CheckResult]
    holdout: str | None
    previous: int | None
    move: AliasMove | None
    conflict: bool = False  # the alias moved while the gate ran: nothing moved

    @property
    def moved(self) -> bool:
        return self.move is not None


@dataclass(frozen=True)
class Verdict:
    """What checking a gate decided about moving ``NAME@alias`` to a candidate; nothing written yet.

    ``incumbent`` is the holder the gate compared against: applying the verdict moves the alias
    only if it still points there.
    """

    model: str
    alias: str
    candidate: ModelVersion
    incumbent: ModelVersion | None
    gate: str | None
    checks: list[CheckResult]
    holdout: str | None
    actor: str
    reason: str | None
    force: bool
    ungated: bool

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def forced(self) -> bool:
        return (self.force and not self.passed) or self.ungated

    @property
    def moves(self) -> bool:
        return self.passed or self.force

    @property
    def action(self) -> str:
        if self.ungated:
            return "promote_ungated"
        return "promote" if self.passed else "promote_forced"

    def document(self, *, conflict: bool = False) -> dict[str, Any] | None:
        """The stored verdict (every gate verdict is stored, pass or fail); None without a gate."""
        if self.gate is None:
            return None
        return {
            "gate": self.gate,
            "passed": self.passed,
            "checks": [dataclasses.asdict(c) for c in self.checks],
            "holdout": self.holdout,
            "incumbent": None if self.incumbent is None else self.incumbent.ref,
            "forced": self.force and not self.passed,
            **({"conflict": True} if conflict else {}),
        }


def evaluate_promotion(
    store: Store,
    artifacts: ArtifactStore,
    *,
    name: str,
    version: int | str,
    alias: str,
    gate: Gate | None,
    actor: str,
    reason: str | None = None,
    force: bool = False,
    holdout: str | None = None,
    root: Path | None = None,
    skipped_gate: str | None = None,
) -> Verdict:
    """Check ``gate`` for moving ``NAME@alias`` to ``NAME@version``; reads only, writes nothing.

    Raises ``NotFound`` for unknown models or versions, ``InvalidInput`` for a gate that cannot
    apply, ``--force`` or ``--no-gate`` without a reason, or a candidate the alias already holds.
    """
    check_alias(alias)
    check_name(name)
    if force and not (reason and reason.strip()):
        raise InvalidInput('--force needs --reason "…": a forced promotion must say why.')
    ungated = gate is None and skipped_gate is not None
    if ungated and not (reason and reason.strip()):
        raise InvalidInput(
            f'--no-gate skips the configured gate {skipped_gate!r}; it needs --reason "…" and is '
            "recorded as an ungated promotion."
        )
    candidate = resolve(store, f"{name}@{version}")
    with store.read() as conn:
        holder_id = current_holder(conn, candidate.model_id, alias)
        incumbent = None if holder_id is None else version_by_id(conn, holder_id)
    require_intact(artifacts, candidate)
    if incumbent is not None and incumbent.id == candidate.id:
        raise InvalidInput(f"{name}@{alias} already points at {candidate.ref}; nothing to promote.")
    checks: list[CheckResult] = []
    holdout_source: str | None = None
    if gate is not None:
        rows = None
        if gate.needs_holdout:
            rows = load_holdout(store, artifacts, candidate, holdout)
            compared = [(candidate, "the candidate")]
            if incumbent is not None:
                compared.append((incumbent, f"{name}@{alias} now"))
            require_columns(rows, candidate, compared)
            rows = unseen_by(store, artifacts, rows, [candidate, incumbent])
            holdout_source = rows.description
        checks = evaluate_gate(
            store,
            artifacts,
            gate,
            candidate=candidate,
            incumbent=incumbent,
            holdout=rows,
            approvals=list_approvals(store, candidate),
            root=root,
        )
    return Verdict(
        model=name,
        alias=alias,
        candidate=candidate,
        incumbent=incumbent,
        gate=None if gate is None else gate.name,
        checks=checks,
        holdout=holdout_source,
        actor=actor,
        reason=reason,
        force=force,
        ungated=ungated,
    )


def apply_verdict(conn: sa.Connection, store: Store, verdict: Verdict) -> Promotion:
    """Store the verdict and, if it passed (or was forced), move the alias: in the caller's
    transaction, so a caller can make the move part of a larger atomic step.

    If the alias no longer points at the holder the gate compared against, nothing moves: the
    verdict is stored marked ``conflict``, the attempt audited as ``promote_conflict``, and the
    result says ``conflict``. A failed gate is stored and audited as ``gate_failed``.
    """
    candidate = verdict.candidate
    lock_parent(conn, t.models, candidate.model_id)
    expected = None if verdict.incumbent is None else verdict.incumbent.id
    conflict = current_holder(conn, candidate.model_id, verdict.alias) != expected
    verdict_id = _store_verdict(
        conn, candidate, verdict.alias, verdict.document(conflict=conflict), verdict.actor
    )
    move = None
    if conflict:
        _audit_attempt(conn, verdict, "promote_conflict", verdict_id, {"passed": verdict.passed})
    elif verdict.moves:
        move = move_alias(
            conn,
            store,
            model=verdict.model,
            model_id=candidate.model_id,
            alias=verdict.alias,
            to_version_id=candidate.id,
            expected_from=expected,
            action=verdict.action,
            actor=verdict.actor,
            reason=verdict.reason,
            forced=verdict.forced,
            verdict_id=verdict_id,
        )
    else:
        failed = [c.name for c in verdict.checks if not c.passed]
        _audit_attempt(conn, verdict, "gate_failed", verdict_id, {"failed": failed})
    return Promotion(
        model=verdict.model,
        version=candidate.version,
        alias=verdict.alias,
        gate=verdict.gate,
        passed=verdict.passed,
        forced=verdict.forced,
        verdict_id=verdict_id,
        checks=verdict.checks,
        holdout=verdict.holdout,
        previous=None if verdict.incumbent is None else verdict.incumbent.version,
        move=move,
        conflict=conflict,
    )


def promote(
    store: Store,
    artifacts: ArtifactStore,
    *,
    name: str,
    version: int | str,
    alias: str,
    gate: Gate | None,
    actor: str,
    reason: str | None = None,
    force: bool = False,
    holdout: str | None = None,
    root: Path | None = None,
    skipped_gate: str | None = None,
) -> Promotion:
    """Move ``NAME@alias`` to ``NAME@version`` through ``gate``: evaluate, then apply in one
    transaction of its own.

    Raises ``GateFailed`` (the verdict is stored, the alias unchanged), ``AlreadyExists`` when the
    alias moved while the gate ran (the verdict and the attempt are stored), ``NotFound`` for
    unknown models or versions, ``InvalidInput`` for a gate that cannot apply or ``--force``
    without a reason.
    """
    verdict = evaluate_promotion(
        store,
        artifacts,
        name=name,
        version=version,
        alias=alias,
        gate=gate,
        actor=actor,
        reason=reason,
        force=force,
        holdout=holdout,
        root=root,
        skipped_gate=skipped_gate,
    )
    with store.transaction() as conn:
        result = apply_verdict(conn, store, verdict)
    if result.conflict:
        raise AlreadyExists(
            f"{name}@{alias} moved while this request was being checked; run the command again."
        )
    if not verdict.moves:
        failed_names = ", ".join(c.name for c in verdict.checks if not c.passed)
        holder = "unset" if verdict.incumbent is None else verdict.incumbent.ref
        raise GateFailed(
            f"{verdict.candidate.ref} failed gate {verdict.gate or ''!r} ({failed_names}); "
            f"{name}@{alias} stays {holder}.",
            details=result,
        )
    return result


def _audit_attempt(
    conn: sa.Connection,
    verdict: Verdict,
    action: str,
    verdict_id: str | None,
    details: dict[str, Any],
) -> None:
    """An attempt that moved nothing (a failed gate, a lost race) is audited all the same."""
    audit.record(
        conn,
        actor=verdict.actor,
        action=action,
        model=verdict.model,
        subject=f"{verdict.model}@{verdict.alias}",
        from_value=None if verdict.incumbent is None else verdict.incumbent.ref,
        to_value=verdict.candidate.ref,
        reason=verdict.reason,
        verdict_id=verdict_id,
        details={"gate": verdict.gate, **details},
    )


def _store_verdict(
    conn: sa.Connection,
    candidate: ModelVersion,
    alias: str,
    verdict: dict[str, Any] | None,
    actor: str,
) -> str | None:
    if verdict is None:
        return None
    verdict_id = new_id()
    conn.execute(
        t.gate_verdicts.insert().values(
            id=verdict_id,
            model_version_id=candidate.id,
            alias=alias,
            gate=verdict["gate"],
            passed=verdict["passed"],
            checks={k: v for k, v in verdict.items() if k not in ("gate", "passed")},
            created_at=dt.datetime.now(dt.UTC),
            actor=actor,
        )
    )
    return verdict_id


def list_verdicts(store: Store, version: ModelVersion) -> list[dict[str, Any]]:
    with store.read() as conn:
        rows = conn.execute(
            sa.select(t.gate_verdicts)
            .where(t.gate_verdicts.c.model_version_id == version.id)
            .order_by(t.gate_verdicts.c.created_at, t.gate_verdicts.c.id)
        ).all()
    return [
        {
            "id": row.id,
            "alias": row.alias,
            "gate": row.gate,
            "passed": row.passed,
            "actor": row.actor,
            "created_at": row.created_at,
            **dict(row.checks or {}),
        }
        for row in rows
    ]
