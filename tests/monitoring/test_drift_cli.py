"""`mloop drift` as a user runs it: dataset versions, files and log windows; exit codes 0, 1, 2."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import numpy as np
import orjson
import pandas as pd
import pytest

from mloop.predlog import PredictionLog, folder_for
from mloop.workspace import Workspace
from tests.conftest import CliResult

Cli = Callable[..., CliResult]
ROWS = 3000


def _frame(rng: np.random.Generator, *, tenure_scale: float, plans: list[str]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tenure": rng.gamma(2.0, tenure_scale, ROWS).round(),
            "plan": rng.choice(plans, ROWS),
            "charges": rng.normal(70, 20, ROWS),
        }
    )


@pytest.fixture
def files(workspace: Workspace, cli: Cli) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    root = workspace.root
    paths = {
        "train": root / "train.csv",
        "same": root / "same.parquet",
        "moved": root / "moved.csv",
    }
    train = _frame(rng, tenure_scale=15, plans=["basic", "pro"])
    train.assign(churned=rng.random(ROWS) < 0.3).to_csv(paths["train"], index=False)
    _frame(rng, tenure_scale=15, plans=["basic", "pro"]).to_parquet(paths["same"])
    _frame(rng, tenure_scale=8, plans=["basic", "pro", "enterprise"]).to_csv(
        paths["moved"], index=False
    )
    assert cli("data", "add", "churn", str(paths["train"])).exit_code == 0
    return paths


def test_drift_exits_1_on_dataset_drift_and_0_without(files: dict[str, Path], cli: Cli) -> None:
    moved = cli("drift", "churn@1", str(files["moved"]))
    assert moved.exit_code == 1, moved.stderr
    assert "tenure" in moved.stdout and "DRIFT" in moved.stdout
    assert "dataset drift" in moved.stdout and "'enterprise'" in moved.stdout
    assert "not compared: churned (not in the current data)" in moved.stdout
    same = cli("drift", "churn@1", str(files["same"]))
    assert same.exit_code == 0, same.stdout + same.stderr
    assert "0 of 3 columns drifted" in same.stdout


def test_drift_json_is_the_report_shape(files: dict[str, Path], cli: Cli) -> None:
    result = cli("drift", "churn@1", str(files["moved"]), "--json", "--drift-share", "0.9")
    assert result.exit_code == 0, result.stderr  # 2 of 3 is below 0.9
    data = orjson.loads(result.stdout)
    assert data["reference"] == "churn@1" and data["rows"] == {"reference": ROWS, "current": ROWS}
    assert data["drifted_columns"] == ["tenure", "plan"] and data["dataset_drift"] is False
    assert data["new_categories"] == {"plan": ["enterprise"]}


def test_a_file_can_be_the_reference_and_methods_chosen_per_column(
    files: dict[str, Path], cli: Cli
) -> None:
    result = cli(
        "drift",
        str(files["train"]),
        str(files["moved"]),
        "--json",
        "--column-method",
        "tenure=psi:0.2",
        "--column-method",
        "plan=chisquare",
    )
    assert result.exit_code == 1, result.stderr
    columns = {c["column"]: c for c in orjson.loads(result.stdout)["columns"]}
    assert columns["tenure"]["method"] == "psi" and columns["tenure"]["threshold"] == 0.2
    assert columns["plan"]["method"] == "chisquare" and columns["plan"]["p_value"] < 0.05


BAD_INPUT = [
    (["churn@1", "{moved}", "--column-method", "tenure=kl"], "Unknown drift method 'kl'"),
    (["churn@1", "{moved}", "--column-method", "nope=psi"], "'nope' is not a column"),
    (["churn@1", "{moved}", "--column-method", "tenure"], "is not COL=METHOD"),
    (["churn@1", "{moved}", "--drift-share", "1.5"], "must be above 0 and at most 1"),
    (["churn@1", "{image}"], "PNG"),
    (["churn@1", "missing.csv"], "does not exist"),
    (["churn@9", "{moved}"], "no version 9"),
    (["nosuch@1", "{moved}"], "No dataset named 'nosuch'"),
    (["churn@1", "api:24h"], "No prediction log for endpoint 'api'"),
    (["churn@1", "churn:2026-01-02/2026-01-01"], "is empty"),
]


def test_bad_input_exits_2_with_one_sentence(files: dict[str, Path], cli: Cli) -> None:
    image = files["train"].parent / "picture.csv"
    image.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    for args, message in BAD_INPUT:
        filled = [a.format(moved=files["moved"], image=image) for a in args]
        result = cli("drift", *filled)
        assert result.exit_code == 2, (args, result.stdout + result.stderr)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr


def _log(workspace: Workspace, frame: pd.DataFrame, at: dt.datetime) -> None:
    records = [
        {
            "timestamp": at + dt.timedelta(seconds=i),
            "endpoint": "churn",
            "request_id": f"req-{at:%H%M}-{i}",
            "prediction_id": f"req-{at:%H%M}-{i}",
            "revision": 1,
            "model": "churn",
            "version": 1,
            "role": "primary",
            "routing_key": None,
            "status": 200,
            "latency_ms": 1.0,
            "inputs": row,
            "prediction": "no",
            "probabilities": {"yes": 0.2, "no": 0.8},
            "error": None,
        }
        for i, row in enumerate(frame.to_dict("records"))
    ]
    with PredictionLog(folder_for(workspace.settings)) as log:
        log.submit("churn", records)


def test_log_windows_are_compared_by_their_input_columns(
    files: dict[str, Path], workspace: Workspace, cli: Cli
) -> None:
    start = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    _log(workspace, pd.read_csv(files["moved"]).head(1500), start)
    window = "churn:2026-03-01T00:00/2026-03-01T01:00"
    result = cli("drift", "churn@1", window, "--json")
    assert result.exit_code == 1, result.stderr
    data = orjson.loads(result.stdout)
    assert data["current"] == window and data["rows"]["current"] == 1500
    assert "tenure" in data["drifted_columns"]
    assert "prediction" not in {c["column"] for c in data["columns"]}  # not in churn@1
    _log(
        workspace,
        pd.read_csv(files["train"]).drop(columns="churned").head(1500),
        start.replace(hour=2),
    )
    both = cli("drift", "churn:2026-03-01T02:00/2026-03-01T03:00", window, "--json")
    assert both.exit_code == 0, both.stderr  # 2 of 6 columns drifted: the model answered alike
    report = orjson.loads(both.stdout)
    compared = {c["column"] for c in report["columns"]}
    assert {"tenure", "plan", "prediction", "proba.yes", "proba.no"} <= compared
    assert report["drifted_columns"] == ["tenure", "plan"]
    empty = cli("drift", "churn@1", "churn:2026-02-01T00:00/2026-02-02T00:00")
    assert empty.exit_code == 2 and "has no records with inputs" in empty.stderr


def test_report_writes_an_html_page(files: dict[str, Path], cli: Cli, tmp_path: Path) -> None:
    target = tmp_path / "drift.html"
    result = cli("drift", "churn@1", str(files["moved"]), "--report", str(target))
    assert result.exit_code == 1, result.stderr
    page = target.read_text()
    assert "tenure" in page and "enterprise" in page and "<svg" in page
