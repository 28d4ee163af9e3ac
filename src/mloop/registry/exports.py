"""Checked exports of a model version to another runtime (ONNX), recorded with the version.

``mloop models export --onnx`` checks the file against the model on held-out rows
(``registry.export``) and records it here: the blob in the artifact store and one
``model_exports`` row with the agreement it reached. An endpoint may then serve that version
with ``--runtime onnx``; a version without a recorded export is refused, so a server never
loads an ONNX file nobody checked.

One export per version and runtime: the table is append-only and unique on the pair, so the
first checked export is the one recorded. Exporting the same version again writes the file
and returns the existing record (``recorded`` False); skl2onnx writes the same bytes for the
same model, so the file and the record normally match.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import sqlalchemy as sa

from mloop import audit
from mloop.artifacts import ArtifactStore
from mloop.hashing import display
from mloop.ids import new_id
from mloop.registry.versions import ModelVersion
from mloop.store import Store
from mloop.store import tables as t
from mloop.store.inserts import insert_if_absent


@dataclass(frozen=True)
class ExportRecord:
    id: str
    version_id: str
    runtime: str
    artifact_hash: str
    agreement: dict[str, Any]
    created_at: dt.datetime
    created_by: str
    recorded: bool = True  # False when an earlier export of the version was already recorded

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "artifact": display(self.artifact_hash),
            "agreement": self.agreement,
            "created_at": self.created_at.isoformat(),
            "created_by": self.created_by,
        }


def _to_record(row: Any, *, recorded: bool = True) -> ExportRecord:
    return ExportRecord(
        id=row.id,
        version_id=row.model_version_id,
        runtime=row.runtime,
        artifact_hash=row.artifact_hash,
        agreement=dict(row.agreement or {}),
        created_at=row.created_at
        if row.created_at.tzinfo
        else row.created_at.replace(tzinfo=dt.UTC),
        created_by=row.created_by,
        recorded=recorded,
    )


def exports_in(
    conn: sa.Connection, version_ids: list[str], runtime: str
) -> dict[str, ExportRecord]:
    """The recorded exports of ``version_ids`` to ``runtime``, by version id."""
    if not version_ids:
        return {}
    e = t.model_exports
    rows = conn.execute(
        sa.select(e).where(
            e.c.model_version_id.in_(sorted(set(version_ids))), e.c.runtime == runtime
        )
    )
    return {row.model_version_id: _to_record(row) for row in rows}


def get_export(store: Store, version_id: str, runtime: str = "onnx") -> ExportRecord | None:
    """The checked export of a version to ``runtime``; None when it was never exported."""
    with store.read() as conn:
        return exports_in(conn, [version_id], runtime).get(version_id)


def record_export(
    store: Store,
    artifacts: ArtifactStore,
    version: ModelVersion,
    onnx_bytes: bytes,
    agreement: Mapping[str, Any],
    *,
    actor: str,
    runtime: str = "onnx",
) -> ExportRecord:
    """Store a checked export's blob and record it with ``version`` (idempotent per version).

    The caller has checked the export (``agreement`` says how closely it answers like the model).
    """
    blob = artifacts.put_bytes(onnx_bytes)
    now = dt.datetime.now(dt.UTC)
    with store.transaction() as conn:
        inserted = insert_if_absent(
            conn,
            t.model_exports,
            {
                "id": new_id(),
                "model_version_id": version.id,
                "runtime": runtime,
                "artifact_hash": blob.hash,
                "agreement": dict(agreement),
                "created_at": now,
                "created_by": actor,
            },
            unique=["model_version_id", "runtime"],
        )
        if inserted:
            audit.record(
                conn,
                actor=actor,
                action="export",
                model=version.name,
                subject=version.ref,
                to_value=f"{runtime} {display(blob.hash)}",
                details={"agreement": dict(agreement)},
            )
        found = exports_in(conn, [version.id], runtime)[version.id]
    return replace(found, recorded=inserted)
