"""`mloop.drift(...)`: the same typed report as `mloop drift`, from names, files, frames or profiles."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

import mloop
from mloop.data.profile import profile_frame
from mloop.monitoring.drift import DriftReport
from mloop.workspace import Workspace


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"tenure": rng.normal(30, 8, 4000), "plan": rng.choice(["a", "b"], 4000)})
    cur = pd.DataFrame({"tenure": rng.normal(22, 8, 4000), "plan": rng.choice(["a", "b"], 4000)})
    return ref, cur


def test_frames_and_profiles_need_no_workspace() -> None:
    ref, cur = _frames()
    report = mloop.drift(ref, cur)
    assert isinstance(report, DriftReport)
    assert report.drifted_columns == ["tenure"] and report.drift_share == 0.5
    assert report.dataset_drift  # 0.5 of the columns is at least the default share
    from_profile = mloop.drift(profile_frame(ref), cur, drift_share=0.75)
    assert from_profile.drifted_columns == ["tenure"] and not from_profile.dataset_drift


def test_a_stored_version_against_a_file_matches_the_cli(
    workspace: Workspace, tmp_path: Path
) -> None:
    ref, cur = _frames()
    ref.to_csv(tmp_path / "train.csv", index=False)
    cur.to_parquet(tmp_path / "now.parquet")
    mloop.add_dataset("churn", tmp_path / "train.csv", workspace=workspace)
    report = mloop.drift(
        "churn@1",
        tmp_path / "now.parquet",
        column_methods={"plan": "psi"},
        workspace=workspace,
    )
    data = report.to_json()
    assert data["reference"] == "churn@1" and data["current"] == str(tmp_path / "now.parquet")
    assert data["rows"] == {"reference": 4000, "current": 4000}
    assert report.column("plan").method == "psi"
    mixed = mloop.drift("churn@1", cur, workspace=workspace)
    assert mixed.drifted_columns == ["tenure"] and mixed.current == "current"


def test_a_constant_reference_column_has_no_spread_to_divide_by() -> None:
    """105.73 ten thousand times has a float mean a hair off 105.73, so its sd came out 2.8e-14:
    a 0.01 move was a normalised Wasserstein of 3.5e11 (DRIFT), and the explanation read
    "sd 2.84e-14 → 0"."""
    reference = pd.DataFrame({"x": [105.73] * 10_000})
    current = pd.DataFrame({"x": [105.74] * 300})
    assert profile_frame(reference).columns["x"].std == 0.0
    report = mloop.drift(reference, current, column_methods={"x": "wasserstein"})
    column = report.columns[0]
    assert column.score < 0.1 and not column.drifted
    assert "sd" not in column.explanation
