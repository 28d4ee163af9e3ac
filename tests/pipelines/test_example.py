"""examples/pipelines/pipelines.py, the one docs/pipelines.md shows, runs as written: a dataset
ref in, a registered model out, linked into the model's lineage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mloop.api import add_dataset
from mloop.pipelines import load_output, run_pipeline
from mloop.registry.lineage import lineage
from mloop.workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pipelines" / "pipelines.py"

pytestmark = pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)


def test_the_churn_pipeline_registers_a_model_whose_lineage_names_the_pipeline_and_data(
    workspace: Workspace, tmp_path: Path
) -> None:
    data = tmp_path / "churn.csv"
    generate = [sys.executable, ROOT / "examples" / "churn" / "generate.py", "--rows", "400"]
    subprocess.run([*generate, "--out", data], check=True, capture_output=True)
    version = add_dataset("churn", data, workspace=workspace)
    # One worker: it imports pandas, scikit-learn and skops once, where two workers would each
    # import them at the same time on the suite's two cores.
    config = workspace.root / "mloop.toml"
    config.write_text(config.read_text() + "\n[executor]\nmax_workers = 1\n")
    ws = Workspace.open(workspace.root, environ={"MLOOP_STORE_URL": workspace.settings.store_url})
    try:
        done = run_pipeline(ws, f"{EXAMPLE}:churn", {"C": "0.5"})
        assert done.status == "succeeded", done.error
        assert done.model == "churn-pipeline@1"
        assert done.step("load").inputs["data"] == {
            "kind": "dataset",
            "dataset": "churn@1",
            "hash": f"blake3:{version.content_hash}",
        }
        assert done.step("load").outputs["return"]["format"] == "parquet-pandas"
        report = load_output(ws.artifacts, done.outputs["return"])
        assert report["model"] == "churn-pipeline@1" and 0.5 < report["roc_auc"] <= 1.0
        story = lineage(ws.store, "churn-pipeline@1")
        assert story["run"]["tags"]["mloop.pipeline_run"] == done.id
        assert story["run"]["tags"]["mloop.pipeline_step"] == "train"
        assert [(i["dataset"], i["role"]) for i in story["run"]["inputs"]] == [
            ("churn@1", "pipeline")
        ]
        again = run_pipeline(ws, f"{EXAMPLE}:churn", {"C": "0.5"})
        assert {step.status for step in again.steps} == {"cached"}
        assert again.model == "churn-pipeline@1"  # reused, not registered twice
    finally:
        ws.close()
