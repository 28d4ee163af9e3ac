"""The lineage of a model version, read straight from the store as one document.

model version → run (who, when, status, parameters, metrics, code commit and dirty flag,
environment) → dataset versions (hash, rows, source, parent) — plus approvals, gate verdicts and
the alias moves that involved it. The CLI renders it as a tree, ``--json`` prints it whole.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from mloop.registry.versions import resolve_in
from mloop.scoring.names import ESTIMATOR_TAG, VALIDATION_TAG
from mloop.store import Store
from mloop.store import tables as t
from mloop.tracking.records import decode_metric


def _dataset_ref(conn: sa.Connection, version_id: str | None) -> str | None:
    if version_id is None:
        return None
    row = conn.execute(
        sa.select(t.datasets.c.name, t.dataset_versions.c.version)
        .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
        .where(t.dataset_versions.c.id == version_id)
    ).first()
    return None if row is None else f"{row.name}@{row.version}"


def _run(conn: sa.Connection, run_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        sa.select(t.runs, t.experiments.c.name.label("experiment"))
        .join(t.experiments, t.experiments.c.id == t.runs.c.experiment_id)
        .where(t.runs.c.id == run_id)
    ).first()
    if row is None:
        return None
    params = {
        r.key: r.value for r in conn.execute(sa.select(t.params).where(t.params.c.run_id == run_id))
    }
    latest: dict[str, tuple[int, int, float]] = {}
    for r in conn.execute(sa.select(t.metrics).where(t.metrics.c.run_id == run_id)):
        key = (r.step, r.timestamp_ms, decode_metric(r.value))
        if r.key not in latest or key[:2] >= latest[r.key][:2]:
            latest[r.key] = key
    tags = {
        r.key: r.value for r in conn.execute(sa.select(t.tags).where(t.tags.c.run_id == run_id))
    }
    inputs = []
    for r in conn.execute(
        sa.select(t.run_inputs.c.role, t.dataset_versions, t.datasets.c.name)
        .join(t.dataset_versions, t.dataset_versions.c.id == t.run_inputs.c.dataset_version_id)
        .join(t.datasets, t.datasets.c.id == t.dataset_versions.c.dataset_id)
        .where(t.run_inputs.c.run_id == run_id)
    ):
        inputs.append(
            {
                "role": r.role,
                "dataset": f"{r.name}@{r.version}",
                "hash": f"blake3:{r.content_hash}",
                "rows": r.row_count,
                "columns": r.column_count,
                "source": r.source_path,
                "created_at": r.created_at,
                "parent": _dataset_ref(conn, r.parent_id),
            }
        )
    environment = dict(row.environment or {})
    git = environment.get("git") or {}
    return {
        "id": row.id,
        "experiment": row.experiment,
        "status": row.status,
        "user": row.user,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "params": params,
        "estimator": tags.get(ESTIMATOR_TAG),  # the real class, whatever --model was called
        "input_validation": tags.get(VALIDATION_TAG),
        "tags": dict(sorted(tags.items())),
        "metrics": {k: v[2] for k, v in sorted(latest.items())},
        "code": {
            "git_commit": environment.get(
                "git_commit", git.get("commit") if isinstance(git, dict) else None
            ),
            "git_dirty": environment.get(
                "git_dirty", git.get("dirty") if isinstance(git, dict) else None
            ),
            "script": environment.get("script") or environment.get("entry_point"),
            "python": environment.get("python") or environment.get("python_version"),
        },
        "host": environment.get("host") or environment.get("hostname"),
        "inputs": inputs,
    }


def lineage(store: Store, ref: str) -> dict[str, Any]:
    """Raises ``NotFound`` for an unknown model, version or alias."""
    with store.read() as conn:
        version = resolve_in(conn, ref)
        approvals = [
            {"approver": r.approver, "note": r.note, "created_at": r.created_at}
            for r in conn.execute(
                sa.select(t.approvals)
                .where(t.approvals.c.model_version_id == version.id)
                .order_by(t.approvals.c.created_at)
            )
        ]
        verdicts = [
            {
                "id": r.id,
                "gate": r.gate,
                "alias": r.alias,
                "passed": r.passed,
                "forced": bool(dict(r.checks or {}).get("forced")),
                "conflict": bool(dict(r.checks or {}).get("conflict")),
                "actor": r.actor,
                "created_at": r.created_at,
            }
            for r in conn.execute(
                sa.select(t.gate_verdicts)
                .where(t.gate_verdicts.c.model_version_id == version.id)
                .order_by(t.gate_verdicts.c.created_at)
            )
        ]
        moves = [
            {
                "alias": r.alias,
                "action": r.action,
                "direction": "in" if r.to_version_id == version.id else "out",
                "actor": r.actor,
                "reason": r.reason,
                "forced": r.forced,
                "created_at": r.created_at,
            }
            for r in conn.execute(
                sa.select(t.alias_moves)
                .where(
                    sa.or_(
                        t.alias_moves.c.to_version_id == version.id,
                        t.alias_moves.c.from_version_id == version.id,
                    )
                )
                .order_by(t.alias_moves.c.created_at, t.alias_moves.c.id)
            )
        ]
        run = _run(conn, version.run_id) if version.run_id else None
    return {
        "model": version.ref,
        "flavor": version.flavor,
        "artifact": f"blake3:{version.artifact_hash}",
        "aliases": list(version.aliases),
        "created_at": version.created_at,
        "created_by": version.created_by,
        "signature": version.signature.to_stored(),
        "metrics": version.metrics,
        "run": run,
        "approvals": approvals,
        "verdicts": verdicts,
        "alias_moves": moves,
    }
