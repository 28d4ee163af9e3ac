"""The examples are programs users copy: run them as they would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import run_mloop

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "churn"


def test_churn_generator_and_pipeline_script(tmp_path: Path) -> None:
    assert run_mloop("init", ".", cwd=tmp_path).returncode == 0
    data = tmp_path / "churn.csv"
    gen = subprocess.run(
        [sys.executable, EXAMPLES / "generate.py", "--rows", "800", "--out", data],
        capture_output=True,
        text=True,
    )
    assert gen.returncode == 0, gen.stderr
    drifted = tmp_path / "later.parquet"
    gen2 = subprocess.run(
        [
            sys.executable,
            EXAMPLES / "generate.py",
            "--rows",
            "800",
            "--month",
            "2",
            "--drift",
            "--out",
            drifted,
        ],
        capture_output=True,
        text=True,
    )
    assert gen2.returncode == 0, gen2.stderr
    result = subprocess.run(
        [
            sys.executable,
            EXAMPLES / "train.py",
            "--data",
            data,
            "--out",
            tmp_path / "out",
            "--register",
            "churn-script",
            "--n-estimators",
            "20",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = dict(line.split("=", 1) for line in result.stdout.splitlines())
    assert lines["model"] == "churn-script@1" and float(lines["metric.roc_auc"]) > 0.6
    assert (tmp_path / "out" / "model.skops").exists()
    run = run_mloop("runs", "show", lines["run"], "--json", cwd=tmp_path)
    assert run.returncode == 0
    assert '"val_log_loss"' in run.stdout and '"churn@1"' in run.stdout
    lineage = run_mloop("models", "lineage", "churn-script@1", cwd=tmp_path)
    assert lineage.returncode == 0 and "data (train): churn@1" in lineage.stdout
    validate = run_mloop("data", "validate", "churn", drifted, cwd=tmp_path)
    assert validate.returncode == 1 and "Crypto wallet" in validate.stdout
