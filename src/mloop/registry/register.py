"""Registering a run's model as ``NAME@N``: immutable, with its signature, metrics and lineage.

The signature (``mloop.signature``) is the one the run stored with its model: the rules in force
for the training dataset when it was trained, the feature spec, the output and an input example,
so serving can later validate requests with the very rules that validated the training data.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any

import sqlalchemy as sa

from mloop import audit
from mloop.artifacts import ArtifactStore
from mloop.data.datasets import current_schema_revision, get_version
from mloop.errors import AlreadyExists, IntegrityError, InvalidInput
from mloop.ids import new_id
from mloop.registry.versions import ModelVersion, check_name, version_by_id
from mloop.scoring.names import SIGNATURE_ARTIFACT
from mloop.signature import Signature
from mloop.store import Store
from mloop.store import tables as t
from mloop.store.sequences import lock_parent, newest_number
from mloop.tracking.runs import Run, get_run


def _artifact(run: Run, path: str) -> Any | None:
    return next((a for a in run.artifacts if a.path == path), None)


def _model_artifact(run: Run) -> Any:
    found = [a for a in run.artifacts if a.kind.startswith("model:")]
    if not found:
        raise InvalidInput(
            f"Run {run.info.id} has no model artifact; train with `mloop train` or call run.log_model(...)."
        )
    return found[-1]


def run_signature(store: Store, artifacts: ArtifactStore, run: Run) -> Signature:
    """The signature the run stored with its model (``mloop train``, ``run.log_model``).

    A run that stored none (a model logged without ``target`` or ``input_example``) gets one
    built from the dataset it trained on, so its version still records the rules in force.
    """
    recorded = _artifact(run, SIGNATURE_ARTIFACT)
    if recorded is not None:
        return Signature.from_stored(json.loads(artifacts.get_bytes(recorded.blob_hash)))
    refs = [i.dataset_ref for i in run.inputs if i.role == "train" and i.dataset_ref]
    if not refs:
        return Signature()
    version = get_version(store, refs[0])
    schema, revision = current_schema_revision(store, version.name)
    return Signature.build(
        schema=schema,
        schema_revision=revision,
        inferred=version.schema,
        target=None,
        task=None,
        dataset=version.ref,
        dataset_hash=version.content_hash,
    )


def _check_same_prediction(
    conn: sa.Connection,
    name: str,
    model_id: str,
    latest: int,
    signature: Signature,
    run_id: str,
) -> None:
    """Versions of one model are alternatives for one job: the same target, the same task.

    Aliases and gates compare versions with each other; a version that predicts another column
    would "win" a comparison on its own target and take the champion's place.
    """
    previous = conn.execute(
        sa.select(t.model_versions.c.signature).where(
            t.model_versions.c.model_id == model_id, t.model_versions.c.version == latest
        )
    ).scalar()
    before = Signature.from_stored(previous)
    old = (before.target, before.task)
    new = (signature.target, signature.task)
    if None in old or None in new or old == new:
        return
    raise InvalidInput(
        f"{name}@{latest} predicts {old[0]!r} ({old[1]}) but run {run_id}'s model predicts "
        f"{new[0]!r} ({new[1]}); register it under another name, e.g. --name {name}-{new[0]}."
    )


def check_target(store: Store, name: str, target: str) -> None:
    """Refuse early (before training) to add a version predicting another column to ``name``."""
    with store.read() as conn:
        row = conn.execute(
            sa.select(t.model_versions.c.version, t.model_versions.c.signature)
            .join(t.models, t.models.c.id == t.model_versions.c.model_id)
            .where(t.models.c.name == name)
            .order_by(t.model_versions.c.version.desc())
            .limit(1)
        ).first()
    if row is None:
        return
    previous = Signature.from_stored(row.signature).target
    if previous is not None and previous != target:
        raise InvalidInput(
            f"{name}@{row.version} predicts {previous!r}, not {target!r}; register this model "
            f"under another name, e.g. --register {name}-{target}."
        )


def register_run(
    store: Store, artifacts: ArtifactStore, *, run_id: str, name: str, actor: str
) -> ModelVersion:
    """Create ``NAME@N`` from the run's model artifact.

    Raises ``NotFound`` (unknown run), ``InvalidInput`` (no model in the run, bad name),
    ``IntegrityError`` (the model blob is missing or no longer matches its hash).
    """
    check_name(name)
    run = get_run(store, run_id)
    if run.info.status in {"FAILED", "KILLED"}:
        raise InvalidInput(
            f"Run {run.info.id} ended {run.info.status}; only finished (or still running) runs can be registered."
        )
    model = _model_artifact(run)
    problem = artifacts.verify(model.blob_hash)
    if problem:
        raise IntegrityError(
            f"The model blob of run {run.info.id} fails its hash check ({problem.problem}, blake3:{model.blob_hash[:16]}…); "
            "it will not be registered: re-train or restore the artifact store."
        )
    signature = run_signature(store, artifacts, run)
    with store.transaction() as conn:
        model_id = conn.execute(sa.select(t.models.c.id).where(t.models.c.name == name)).scalar()
        now = dt.datetime.now(dt.UTC)
        if model_id is None:
            model_id = new_id()
            conn.execute(t.models.insert().values(id=model_id, name=name, created_at=now))
        else:
            lock_parent(conn, t.models, model_id)
        latest = newest_number(
            conn, t.model_versions.c.version, t.model_versions.c.model_id == model_id
        )
        if latest:
            _check_same_prediction(conn, name, model_id, latest, signature, run.info.id)
            again = conn.execute(
                sa.select(t.model_versions.c.version).where(
                    t.model_versions.c.model_id == model_id,
                    t.model_versions.c.run_id == run.info.id,
                    t.model_versions.c.artifact_hash == model.blob_hash,
                )
            ).scalar()
            if again is not None:
                raise AlreadyExists(
                    f"Run {run.info.id}'s model is already {name}@{again}; a second version of the "
                    f"same artifact would add nothing (`mloop models show {name}@{again}`)."
                )
        version_id = new_id()
        number = (latest or 0) + 1
        conn.execute(
            t.model_versions.insert().values(
                id=version_id,
                model_id=model_id,
                version=number,
                run_id=run.info.id,
                flavor=model.kind.split(":", 1)[1],
                artifact_hash=model.blob_hash,
                signature=signature.to_stored(),
                # NaN (r2 of one row) is no JSON number; PostgreSQL refuses it: undefined is absent
                metrics={k: float(v) for k, v in run.metrics.items() if math.isfinite(v)},
                created_at=now,
                created_by=actor,
            )
        )
        audit.record(
            conn,
            actor=actor,
            action="register",
            model=name,
            subject=f"{name}@{number}",
            to_value=f"{name}@{number}",
            details={"run": run.info.id, "artifact": f"blake3:{model.blob_hash}"},
        )
        return version_by_id(conn, version_id)
