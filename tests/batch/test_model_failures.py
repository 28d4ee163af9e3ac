"""A row the model itself raises on is rejected alone (rule ``model``); the rest of its chunk is
scored. A model that raises on most rows fails the job instead of rejecting the whole file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

import mloop
from mloop.workspace import Workspace


class Picky(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """A classifier that cannot score a negative ``x`` (as a pipeline step may refuse a value)."""

    def fit(self, X: pd.DataFrame, y: Any) -> Picky:
        self.classes_ = np.array([False, True])
        self.feature_names_in_ = np.array(["x"], dtype=object)
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        x = np.asarray(X["x"], dtype=float)
        if (x < 0).any():
            raise ValueError("x must not be negative")
        p = 1 / (1 + np.exp(-x))
        return np.column_stack([1 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.predict_proba(X)[:, 1] > 0.5


def _log_picky(workspace: Workspace) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "y": [False, True, True]})
    with mloop.start_run(workspace=workspace) as run, pytest.warns(UserWarning, match="pickle"):
        run.log_model(Picky().fit(frame[["x"]], frame["y"]), name="picky", target="y")


def test_rows_the_model_raises_on_are_rejected_alone(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    _log_picky(workspace)
    x = np.linspace(0.5, 5, 1000)
    x[[10, 500, 501]] = -1.0
    source, out, rejects = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "bad.csv"
    pd.DataFrame({"id": range(1000), "x": x}).to_csv(source, index=False)

    result = cli(
        "predict", "picky@1", "-i", source, "-o", out, "--rejects", rejects, "--chunk-rows", 256
    )
    assert result.exit_code == 1, result.stderr
    scored = pd.read_csv(out)
    assert len(scored) == 997 and not scored["id"].isin([10, 500, 501]).any()
    listed = pd.read_csv(rejects)
    assert listed["row"].tolist() == [11, 501, 502]
    assert set(listed["rule"]) == {"model"} and set(listed["column"]) == {"*"}
    assert "x must not be negative" in listed["message"][0]

    kept = mloop.predict("picky@1", pd.DataFrame({"x": x}), on_invalid="drop", workspace=workspace)
    assert len(kept) == 997 and kept["prediction"].all()


def test_a_model_failing_on_most_rows_fails_the_job(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    _log_picky(workspace)
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    pd.DataFrame({"x": -np.arange(1.0, 501.0)}).to_csv(source, index=False)
    result = cli("predict", "picky@1", "-i", source, "-o", out)
    assert result.exit_code == 2
    assert "raised on more than 100 rows of one chunk" in result.stderr
    assert not out.exists()
    job = json.loads(cli("jobs", "ls", "--json").stdout)[0]
    assert job["status"] == "failed" and "x must not be negative" in job["error"]


def test_the_first_row_a_failing_model_raised_on_is_named_as_in_the_file(
    cli: Any, workspace: Workspace, tmp_path: Path
) -> None:
    """Past the first chunk and three empty rows: the file's row, not the chunk's."""
    _log_picky(workspace)
    good = [f"{i},{1 + i / 100}" for i in range(250)]
    bad = [f"{i},-1" for i in range(250, 400)]
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("\n".join(["id,x", *good, ",", ",", ",", *bad]) + "\n")
    result = cli("predict", "picky@1", "-i", source, "-o", out, "--chunk-rows", 200)
    assert result.exit_code == 2, result.stderr
    assert f"(first, row 254 of {source}: ValueError: x must not be negative)" in result.stderr

    frame = pd.DataFrame({"x": [1.0] * 5 + [-1.0] * 150}, index=range(1000, 1155))
    with pytest.raises(mloop.InvalidInput, match=r"first, row 6 of the frame, index 1005:"):
        mloop.predict("picky@1", frame, workspace=workspace)


def test_ray_data_names_the_first_failing_row_of_a_folder_as_the_local_path_does(
    cli: Any,
    workspace: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store_url: str,
) -> None:
    """A Ray worker knows only its batch ("row 1 of the chunk"); the command, reading the
    batches in order, names the folder's row, as the local path does."""
    pytest.importorskip("ray", reason="the Ray tests need mloop[ray]")
    if not store_url.startswith("sqlite"):
        pytest.skip("one Ray start is enough: the store is not what this test is about")
    _log_picky(workspace)
    folder = tmp_path / "parts"
    folder.mkdir()
    pd.DataFrame({"x": np.linspace(0.5, 5, 400)}).to_parquet(folder / "part-0.parquet")
    pd.DataFrame({"x": -np.arange(1.0, 401.0)}).to_parquet(folder / "part-1.parquet")
    said = []
    for executor in ("local", "ray"):
        monkeypatch.setenv("MLOOP_EXECUTOR", executor)
        out = tmp_path / f"{executor}.parquet"
        result = cli("predict", "picky@1", "-i", folder, "-o", out, "--chunk-rows", 200)
        assert result.exit_code == 2 and not out.exists(), result.stderr
        assert "Traceback" not in result.stderr, result.stderr
        said.append(result.stderr)
    assert f"(first, row 401 of {folder}: ValueError: x must not be negative)" in said[0]
    assert said[1] == said[0]
