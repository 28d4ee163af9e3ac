"""Registering a run's model as ``NAME@N``: immutable, with its signature, metrics and lineage.

The signature's input schema comes from the training dataset's schema (so serving can later
validate requests with the very rules that validated the training data), plus the feature spec,
the output type and an input example taken from the held-out rows.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any

import pandas as pd
import sqlalchemy as sa

from mloop import audit
from mloop.artifacts import ArtifactStore
from mloop.errors import AlreadyExists, IntegrityError, InvalidInput
from mloop.ids import new_id
from mloop.registry.versions import ModelVersion, check_name, version_by_id
from mloop.store import Store
from mloop.store import tables as t
from mloop.store.sequences import lock_parent, newest_number
from mloop.tracking.runs import Run, get_run

EXAMPLE_ROWS = 3


def _artifact(run: Run, path: str) -> Any | None:
    return next((a for a in run.artifacts if a.path == path), None)


def _model_artifact(run: Run) -> Any:
    found = [a for a in run.artifacts if a.kind.startswith("model:")]
    if not found:
        raise InvalidInput(
            f"Run {run.info.id} has no model artifact; train with `mloop train` or call run.log_model(...)."
        )
    return found[-1]


def _training_schema(conn: sa.Connection, run: Run) -> dict[str, Any] | None:
    train_inputs = [i for i in run.inputs if i.role == "train"]
    if not train_inputs:
        return None
    schema = conn.execute(
        sa.select(t.dataset_versions.c.schema).where(
            t.dataset_versions.c.id == train_inputs[0].dataset_version_id
        )
    ).scalar()
    return dict(schema) if schema else None


def build_signature(conn: sa.Connection, artifacts: ArtifactStore, run: Run) -> dict[str, Any]:
    recorded = _artifact(run, "signature.json")
    signature: dict[str, Any] = (
        json.loads(artifacts.get_bytes(recorded.blob_hash)) if recorded else {}
    )
    features = signature.get("features") or {}
    feature_names = list(features.get("numeric", [])) + list(features.get("categorical", []))
    schema = _training_schema(conn, run)
    if schema:
        columns = schema.get("columns", [])
        wanted = (
            set(feature_names)
            if feature_names
            else {c["name"] for c in columns} - {signature.get("target")}
        )
        signature["inputs"] = [c for c in columns if c["name"] in wanted]
    task = signature.get("task")
    signature["output"] = {
        "type": "class"
        if task == "classification"
        else "number"
        if task == "regression"
        else "unknown",
        "classes": signature.get("classes"),
        "proba": task == "classification",
    }
    holdout = _artifact(run, "holdout.parquet")
    if holdout and feature_names:
        frame = pd.read_parquet(io.BytesIO(artifacts.get_bytes(holdout.blob_hash)))
        example = frame[[c for c in feature_names if c in frame.columns]].head(EXAMPLE_ROWS)
        signature["input_example"] = json.loads(
            example.to_json(orient="records", date_format="iso")
        )
    return signature


def _check_same_prediction(
    conn: sa.Connection,
    name: str,
    model_id: str,
    latest: int,
    signature: dict[str, Any],
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
    before = dict(previous or {})
    old = (before.get("target"), before.get("task"))
    new = (signature.get("target"), signature.get("task"))
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
    previous = dict(row.signature or {}).get("target")
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
    with store.read() as conn:
        signature = build_signature(conn, artifacts, run)
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
                signature=signature,
                metrics={k: float(v) for k, v in run.metrics.items()},
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
