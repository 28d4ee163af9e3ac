"""Pipelines of ``@mloop.step`` functions, cached by what they compute from (see cache_key).

``step``, ``pipeline`` and ``DatasetRef`` are what a pipelines file imports, so they load light;
the runner and the records (which need the store) load on first use.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mloop.pipelines.graph import Pipeline, Step, pipeline, step
from mloop.pipelines.params import DatasetRef

if TYPE_CHECKING:
    from mloop.pipelines.outputs import load_output
    from mloop.pipelines.records import PipelineRun, PipelineStep, get_run, list_runs
    from mloop.pipelines.runner import run_pipeline

_LAZY = {
    "run_pipeline": "mloop.pipelines.runner",
    "PipelineRun": "mloop.pipelines.records",
    "PipelineStep": "mloop.pipelines.records",
    "get_run": "mloop.pipelines.records",
    "list_runs": "mloop.pipelines.records",
    "load_output": "mloop.pipelines.outputs",
}

__all__ = [
    "DatasetRef",
    "Pipeline",
    "PipelineRun",
    "PipelineStep",
    "Step",
    "get_run",
    "list_runs",
    "load_output",
    "pipeline",
    "run_pipeline",
    "step",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mloop.pipelines' has no attribute {name!r}")
    return getattr(import_module(module), name)
