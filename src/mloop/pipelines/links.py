"""Tie a step's model into the lineage graph the registry already keeps.

A step that returns a registered ``ModelVersion`` made it from a run; that run is tagged with the
pipeline run and step (``mloop.pipeline_run``, ``mloop.pipeline_step``) and gains as inputs the
dataset versions the step was given, so ``mloop models lineage NAME@N`` shows where in which
pipeline the model came from and what data it read, through the same run → dataset edges as a
model trained by ``mloop train``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mloop.store import Store

RUN_TAG = "mloop.pipeline_run"
STEP_TAG = "mloop.pipeline_step"


def link_model(
    store: Store, *, model: str, run_id: str, step: str, inputs: Mapping[str, Mapping[str, Any]]
) -> None:
    from mloop.registry.versions import resolve
    from mloop.tracking.runs import log_input, set_tags

    version = resolve(store, model)
    if version.run_id is None:
        return
    set_tags(store, version.run_id, {RUN_TAG: run_id, STEP_TAG: step})
    for record in inputs.values():
        if record.get("kind") == "dataset":
            log_input(store, version.run_id, str(record["dataset"]), role="pipeline")
