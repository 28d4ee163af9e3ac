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

        flavor = flavor_for(model)
        note = pickle_note(model, flavor)
        if note:
            warnings.warn(note, stacklevel=2)
        store, blobs = self.workspace.store, self.workspace.artifacts
        record = runs.log_artifact_bytes(
            store, blobs, self.id, "model", flavor.save(model), kind=f"model:{flavor.name}"
        )
        signature: dict[str, Any] = {}
        if target is not None:
            signature.update(self._target_signature(model, target))
        if input_example is not None:
            example = json.loads(input_example.head(5).to_json(orient="records", date_format="iso"))
            signature["input_example"] = example
            signature["columns"] = [str(c) for c in input_example.columns]
        if signature:
            runs.log_artifact_bytes(
                store,
                blobs,
                self.id,
                "signature.json",
                json.dumps(signature).encode(),
                kind="signature",
            )
        if name is None:
            return record
        self.flush()
        from mloop.registry.register import register_run

        return register_run(store, blobs, run_id=self.id, name=name, actor=self.workspace.user)

    def _target_signature(self, model: Any, target: str) -> dict[str, Any]:
        import numpy as np

        from mloop.data.datasets import get_version

        classes = getattr(model, "classes_", None)
        task = (
            "classification"
            if classes is not None or hasattr(model, "predict_proba")
            else "regression"
        )
        target_type = None
        for item in runs.get_run(self.workspace.store, self.id).inputs:
            if item.role == "train" and item.dataset_ref:
                schema = get_version(self.workspace.store, item.dataset_ref).schema
                if target in schema.names():
                    target_type = schema.column(target).type
                    break
        plain = None if classes is None else np.asarray(classes).tolist()
        if target_type is None and plain:
            first = plain[0]
            target_type = (
                "boolean"
                if isinstance(first, bool)
                else "integer"
                if isinstance(first, int)
                else "categorical"
            )
        return {
            "target": target,
            "task": task,
            "target_type": target_type or ("float" if task == "regression" else "categorical"),
            "classes": plain,
        }


start_run = ActiveRun.start
"""Start a run: ``with mloop.start_run(experiment="churn") as run: run.log_metric(...)``."""

active_run = tracking_fluent.active_run
