"""Promotion: check a gate, store its verdict, and move the alias only if it passed.

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
from mloop.registry.aliases import AliasMove, check_alias, current_holder, move_alias
from mloop.registry.approvals import list_approvals
from mloop.registry.gate_config import Gate
from mloop.registry.gates import CheckResult, evaluate_gate
from mloop.registry.holdout import load_holdout, require_columns, unseen_by
from mloop.registry.loading import require_intact
from mloop.registry.versions import (
    ModelVersion,
    check_name,
    resolve,
    resolve_in,
    version_by_id,
)
from mloop.store import Store
from mloop.store import tables as t


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

    @property
    def moved(self) -> bool:
        return self.move is not None


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
    """Move ``NAME@alias`` to ``NAME@version`` through ``gate``.

    Raises ``GateFailed`` (the verdict is stored, the alias unchanged), ``NotFound`` for unknown
    models or versions, ``InvalidInput`` for a gate that cannot apply or ``--force`` without a reason.
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
        incumbent: ModelVersion | None = (
            None if holder_id is None else version_by_id(conn, holder_id)
        )
    require_intact(artifacts, candidate)
    if incumbent is not None and incumbent.id == candidate.id:
        raise InvalidInput(f"{name}@{alias} already points at {candidate.ref}; nothing to promote.")

    checks: list[CheckResult] = []
    holdout_source: str | None = None
    if gate is not None:
        approvals = list_approvals(store, candidate)
        frame = None
        if gate.needs_holdout:
            frame = load_holdout(store, artifacts, candidate, holdout)
            compared = [(candidate, "the candidate")]
            if incumbent is not None:
                compared.append((incumbent, f"{name}@{alias} now"))
            require_columns(frame, candidate, compared)
            frame = unseen_by(store, artifacts, frame, [candidate, incumbent])
            holdout_source = frame.description
        checks = evaluate_gate(
            store,
            artifacts,
            gate,
            candidate=candidate,
            incumbent=incumbent,
            holdout=frame,
            approvals=approvals,
            root=root,
        )
    passed = all(c.passed for c in checks)

    verdict = None
    if gate is not None:
        verdict = {
            "gate": gate.name,
            "passed": passed,
            "checks": [dataclasses.asdict(c) for c in checks],
            "holdout": holdout_source,
            "incumbent": None if incumbent is None else incumbent.ref,
            "forced": force and not passed,
        }

    def record_attempt(
        action: str, conn: sa.Connection, verdict_id: str | None, details: dict[str, Any]
    ) -> None:
        """An attempt that moved nothing (a failed gate, a lost race) is audited all the same."""
        audit.record(
            conn,
            actor=actor,
            action=action,
            model=name,
            subject=f"{name}@{alias}",
            from_value=None if incumbent is None else incumbent.ref,
            to_value=candidate.ref,
            reason=reason,
            verdict_id=verdict_id,
            details={"gate": gate.name if gate else None, **details},
        )

    try:
        with store.transaction() as conn:
            candidate = resolve_in(conn, f"{name}@{version}")
            verdict_id = _store_verdict(conn, candidate, alias, verdict, actor)
            move = None
            if passed or force:
                move = move_alias(
                    conn,
                    store,
                    model=name,
                    model_id=candidate.model_id,
                    alias=alias,
                    to_version_id=candidate.id,
                    expected_from=holder_id,
                    action="promote_ungated"
                    if ungated
                    else "promote"
                    if passed
                    else "promote_forced",
                    actor=actor,
                    reason=reason,
                    forced=(force and not passed) or ungated,
                    verdict_id=verdict_id,
                )
            else:
                failed = [c.name for c in checks if not c.passed]
                record_attempt("gate_failed", conn, verdict_id, {"failed": failed})
    except AlreadyExists:
        # Another process moved the alias while this gate ran: nothing moves, but the verdict was
        # computed and the attempt happened, so both are kept (every verdict is stored).
        with store.transaction() as conn:
            if verdict is not None:
                verdict["conflict"] = True
            verdict_id = _store_verdict(conn, candidate, alias, verdict, actor)
            record_attempt("promote_conflict", conn, verdict_id, {"passed": passed})
        raise
    result = Promotion(
        model=name,
        version=candidate.version,
        alias=alias,
        gate=None if gate is None else gate.name,
        passed=passed,
        forced=(force and not passed) or ungated,
        verdict_id=verdict_id,
        checks=checks,
        holdout=holdout_source,
        previous=None if incumbent is None else incumbent.version,
        move=move,
    )
    if not passed and not force:
        failed_names = ", ".join(c.name for c in checks if not c.passed)
        raise GateFailed(
            f"{candidate.ref} failed gate {gate.name if gate else ''!r} ({failed_names}); {name}@{alias} stays "
            f"{'unset' if incumbent is None else incumbent.ref}.",
            details=result,
        )
    return result


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
