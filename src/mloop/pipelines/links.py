"""Tie a step's model into the lineage graph the registry already keeps.

A step that returns a registered ``ModelVersion`` made it from a run; that run is tagged with the
pipeline run and step (``mloop.pipeline_run``, ``mloop.pipeline_step``) and gains as inputs the
dataset versions its result derives from (given to it or to any step upstream), so ``mloop models lineage NAME@N`` shows where in which
pipeline the model came from and what data it read, through the same run → dataset edges as a
model trained by ``mloop train``.
"""

from __future__ import annotations

from collections.abc import Sequence

from mloop.store import Store

RUN_TAG = "mloop.pipeline_run"
STEP_TAG = "mloop.pipeline_step"


def link_model(
    store: Store, *, model: str, run_id: str, step: str, datasets: Sequence[str]
) -> None:
    """Tag ``model``'s run with the pipeline run and step, and record ``datasets`` (``NAME@N``,
    every version upstream of the step) as its inputs in the ``pipeline`` role."""
    from mloop.registry.versions import resolve
    from mloop.tracking.runs import log_input, set_tags

    version = resolve(store, model)
    if version.run_id is None:
        return
    set_tags(store, version.run_id, {RUN_TAG: run_id, STEP_TAG: step})
    for ref in datasets:
        log_input(store, version.run_id, ref, role="pipeline")
