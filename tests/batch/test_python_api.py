"""`mloop.predict(model_ref, frame)`: the same rules and scorer as `mloop predict`, in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import mloop
from mloop.workspace import Workspace
from tests.batch.conftest import to_score


def test_predict_returns_predictions_aligned_with_the_frame(
    churn_model: str, workspace: Workspace
) -> None:
    frame = to_score(50).set_index("customer_id")
    scores = mloop.predict(churn_model, frame, workspace=workspace)
    assert list(scores.columns) == ["prediction", "proba_False", "proba_True"]
    assert scores.index.equals(frame.index)
    model = mloop.load_model(churn_model, workspace=workspace)
    assert scores["prediction"].tolist() == model.predict(frame).tolist()
    np.testing.assert_allclose(
        scores[["proba_False", "proba_True"]].to_numpy(), model.predict_proba(frame)
    )
    np.testing.assert_allclose(scores["proba_False"] + scores["proba_True"], 1.0)


def test_a_row_breaking_the_rules_raises_with_every_bad_value(
    churn_model: str, workspace: Workspace
) -> None:
    frame = to_score(20, seed=4)
    frame.index = [f"r{i}" for i in range(20)]
    frame.loc["r3", "monthly_charges"] = -1.0
    frame.loc["r7", "contract"] = "Lifetime"
    with pytest.raises(mloop.ValidationFailed) as caught:
        mloop.predict(churn_model, frame, workspace=workspace)
    error = caught.value
    assert "2 rows of the frame break the rules of churn@1" in error.message
    assert "on_invalid='drop'" in error.message
    assert [(d["row"], d["index"], d["column"], d["rule"], d["value"]) for d in error.details] == [
        (4, "r3", "monthly_charges", "min", -1.0),
        (8, "r7", "contract", "allowed", "Lifetime"),
    ]

    kept = mloop.predict(churn_model, frame, on_invalid="drop", workspace=workspace)
    assert list(kept.index) == [i for i in frame.index if i not in ("r3", "r7")]
    alone = mloop.predict(churn_model, frame.drop(index=["r3", "r7"]), workspace=workspace)
    pd.testing.assert_frame_equal(kept, alone)  # the other rows score as if alone


def test_bad_calls_say_what_to_do(churn_model: str, workspace: Workspace, tmp_path: Path) -> None:
    frame = to_score(5)
    with pytest.raises(mloop.InvalidInput, match="has no column 'tenure_months'"):
        mloop.predict(churn_model, frame.drop(columns=["tenure_months"]), workspace=workspace)
    with pytest.raises(mloop.InvalidInput, match="on_invalid must be 'raise' or 'drop'"):
        mloop.predict(churn_model, frame, on_invalid="skip", workspace=workspace)  # type: ignore[arg-type]
    with pytest.raises(mloop.InvalidInput, match="takes a pandas DataFrame"):
        mloop.predict(churn_model, frame.to_dict("records"), workspace=workspace)  # type: ignore[arg-type]
    with pytest.raises(mloop.NotFound, match="no alias 'champion'"):
        mloop.predict("churn@champion", frame, workspace=workspace)


def test_the_frame_and_the_file_get_the_same_answers(
    cli: Any, churn_model: str, workspace: Workspace, tmp_path: Path
) -> None:
    frame = to_score(300, seed=12)
    source, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    frame.to_parquet(source, index=False)
    assert cli("predict", churn_model, "-i", source, "-o", out).exit_code == 0
    from_file = pd.read_parquet(out)[["prediction", "proba_False", "proba_True"]]
    in_memory = mloop.predict(churn_model, frame, workspace=workspace)
    pd.testing.assert_frame_equal(from_file, in_memory)
