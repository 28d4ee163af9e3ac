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
        self, model: Any, name: str | None = None, *, input_example: pd.DataFrame | None = None
    ) -> ModelVersion | ArtifactRecord:
        """Store ``model`` in a safe format (skops for scikit-learn, native for LightGBM/XGBoost)
        and, with ``name``, register it as the next ``NAME@N`` with this run's lineage."""
        from mloop.flavors import flavor_for

        flavor = flavor_for(model)
        store, blobs = self.workspace.store, self.workspace.artifacts
        record = runs.log_artifact_bytes(
            store, blobs, self.id, "model", flavor.save(model), kind=f"model:{flavor.name}"
        )
        if input_example is not None:
            example = json.loads(input_example.head(5).to_json(orient="records", date_format="iso"))
            signature = {
                "input_example": example,
                "columns": [str(c) for c in input_example.columns],
            }
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


start_run = ActiveRun.start
"""Start a run: ``with mloop.start_run(experiment="churn") as run: run.log_metric(...)``."""

active_run = tracking_fluent.active_run
