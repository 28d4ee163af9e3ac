"""``with mloop.start_run(...) as run:``, plus ``run.log_model``, which reaches into the registry.

The run itself (params, batched metrics, artifacts, inputs, FAILED on exception) lives in
``mloop.tracking.fluent``; this edge adds only what needs the flavors and the registry, so the
tracking service does not import the layer that builds on it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mloop.tracking import fluent as tracking_fluent
from mloop.tracking import runs

if TYPE_CHECKING:
    import pandas as pd

    from mloop.registry.versions import ModelVersion
    from mloop.signature import Signature
    from mloop.tracking.records import ArtifactRecord


class ActiveRun(tracking_fluent.ActiveRun):
    def log_model(
        self,
        model: Any,
        name: str | None = None,
        *,
        target: str | None = None,
        input_example: pd.DataFrame | None = None,
    ) -> ModelVersion | ArtifactRecord:
        """Store ``model`` in a safe format (skops for scikit-learn, native for LightGBM/XGBoost)
        and, with ``name``, register it as the next ``NAME@N`` with this run's lineage.

        ``target`` names the column the model predicts; with it, promotion gates can re-score the
        model on held-out data (``mloop models promote … --holdout NAME@V``).
        """
        import warnings

        from mloop.flavors import flavor_for, pickle_note
        from mloop.scoring.names import SIGNATURE_ARTIFACT

        flavor = flavor_for(model)
        note = pickle_note(model, flavor)
        if note:
            warnings.warn(note, stacklevel=2)
        store, blobs = self.workspace.store, self.workspace.artifacts
        record = runs.log_artifact_bytes(
            store, blobs, self.id, "model", flavor.save(model), kind=f"model:{flavor.name}"
        )
        if target is not None or input_example is not None:
            signature = self._signature(model, target, input_example)
            runs.log_artifact_bytes(
                store,
                blobs,
                self.id,
                SIGNATURE_ARTIFACT,
                json.dumps(signature.to_stored()).encode(),
                kind="signature",
            )
        if name is None:
            return record
        self.flush()
        from mloop.registry.register import register_run

        return register_run(store, blobs, run_id=self.id, name=name, actor=self.workspace.user)

    def _signature(self, model: Any, target: str | None, example: pd.DataFrame | None) -> Signature:
        """The model's signature, with the rules in force for the dataset this run trained on."""
        import numpy as np

        from mloop.data.datasets import current_schema_revision, get_version
        from mloop.data.schema import ColumnType, Schema, infer_schema
        from mloop.scoring.targets import Task
        from mloop.signature import Signature

        classes = getattr(model, "classes_", None)
        task = None
        if target is not None:
            classified = classes is not None or hasattr(model, "predict_proba")
            task = Task.CLASSIFICATION if classified else Task.REGRESSION
        trained_on = [
            item.dataset_ref
            for item in runs.get_run(self.workspace.store, self.id).inputs
            if item.role == "train" and item.dataset_ref
        ]
        schema, revision, inferred, version = Schema(columns=[]), None, None, None
        if trained_on:
            version = get_version(self.workspace.store, trained_on[0])
            schema, revision = current_schema_revision(self.workspace.store, version.name)
            inferred = version.schema
        elif example is not None:  # no dataset: the example's own types are all there is
            inferred = infer_schema(example)
        plain = None if classes is None else np.asarray(classes).tolist()
        target_type: ColumnType | None = None
        known = [s for s in (schema, inferred) if s is not None and target in s.names()]
        if target is not None and not known and plain:
            first = plain[0]
            target_type = (
                "boolean"
                if isinstance(first, bool)
                else "integer"
                if isinstance(first, int)
                else "categorical"
            )
        elif target is not None and not known:
            target_type = "float" if task == Task.REGRESSION else "categorical"
        return Signature.build(
            schema=schema,
            schema_revision=revision,
            inferred=inferred,
            target=target,
            task=task,
            target_type=target_type,
            classes=plain,
            dataset=None if version is None else version.ref,
            dataset_hash=None if version is None else version.content_hash,
            example=example,
        )


start_run = ActiveRun.start
"""Start a run: ``with mloop.start_run(experiment="churn") as run: run.log_metric(...)``."""

active_run = tracking_fluent.active_run
