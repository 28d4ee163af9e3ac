"""The same pipeline on a real private Ray (num_cpus=2): steps from the user's file run as Ray
tasks through the executor protocol, with nothing in the pipelines code special-cased."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from mloop.pipelines import load_output, run_pipeline
from mloop.workspace import Workspace
from tests.pipelines.conftest import statuses

pytest.importorskip("ray", reason="the Ray tests need mloop[ray]")
pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def test_a_pipeline_runs_on_ray_and_its_results_are_reused_by_the_local_pool(
    workspace: Workspace, write_flow: Callable[..., Path]
) -> None:
    write_flow(
        **{
            "return sum(values)": "return [sum(values), os.getpid()]",
            '"a": a,': '"a": a[0], "pid": a[1],',
            '"total": a + b + offset': '"total": a[0] + b + offset',
        }
    )
    config = workspace.root / "mloop.toml"
    config.write_text(config.read_text() + "\n[executor]\nmax_workers = 2\n")
    ws = Workspace.open(workspace.root, environ={"MLOOP_STORE_URL": workspace.settings.store_url})
    try:
        done = run_pipeline(ws, "flow", environ={"MLOOP_EXECUTOR": "ray"})
        assert done.status == "succeeded", done.error
        assert done.executor == "ray"
        result = load_output(ws.artifacts, done.outputs["return"])
        assert result["total"] == 18 and result["pid"] != os.getpid()
        again = run_pipeline(ws, "flow")  # the local pool: the key does not name the executor
        assert set(statuses(again).values()) == {"cached"}
    finally:
        ws.close()
