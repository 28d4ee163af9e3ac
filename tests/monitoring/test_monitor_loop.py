"""The monitor on a served model: drift against the training data's stored profile, realised
and estimated performance once labels come, prediction drift against the previous window."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mloop.api import add_dataset
from mloop.demo_data import generate
from mloop.endpoints.service import deploy
from mloop.monitoring.feedback import record_labels
from mloop.monitoring.labels import as_array
from mloop.monitoring.monitor import evaluate
from mloop.monitoring.monitor_config import monitor_config
from mloop.monitoring.monitor_report import write_monitor_report
from mloop.predlog import folder_for
from mloop.registry.loading import load_model
from mloop.registry.register import register_run
from mloop.training.train import train
from mloop.workspace import Workspace
from tests.monitoring.chromium import Chromium, find_browser
from tests.monitoring.conftest import configure
from tests.monitoring.logdata import T0, write_log
from tests.monitoring.test_report_browser import MEASURE

DAY = dt.timedelta(days=1)


def _served(ws: Workspace) -> Any:
    data = ws.root / "churn.csv"
    generate(1500, seed=1).to_csv(data, index=False)
    add_dataset("churn", data, workspace=ws)
    result = train(
        ws.store, ws.artifacts, data="churn", target="churned", user="tester", root=ws.root,
        model="logistic", seed=3,
    )  # fmt: skip
    version = register_run(
        ws.store, ws.artifacts, run_id=result.run_id, name="churn", actor="tester"
    )
    deploy(ws.store, "churn", version.ref, actor="tester")
    return load_model(ws.store, ws.artifacts, version.ref)


def _records(model: Any, rows: pd.DataFrame, at: dt.datetime, prefix: str) -> list[dict[str, Any]]:
    features = rows.drop(columns=["churned"])
    predicted = model.predict(features)
    proba = model.predict_proba(features)
    classes = [str(c) for c in model.version.signature.classes]
    inputs = features.to_dict(orient="records")
    return [
        {
            "timestamp": at + dt.timedelta(seconds=i * 20),
            "endpoint": "churn",
            "request_id": f"{prefix}-{i}",
            "prediction_id": f"{prefix}-{i}",
            "revision": 1,
            "model": "churn",
            "version": model.version.version,
            "role": "primary",
            "status": 200,
            "latency_ms": 3.0,
            "inputs": inputs[i],
            "prediction": predicted[i].item(),
            "probabilities": dict(zip(classes, proba[i].tolist(), strict=True)),
        }
        for i in range(len(rows))
    ]


def test_a_drifted_day_is_caught_explained_and_scored_before_and_after_labels(
    workspace: Workspace,
) -> None:
    """Trains a small model and runs the monitor twice: ~4 s."""
    model = _served(workspace)
    before = generate(1000, seed=2)
    drifted = generate(1000, seed=3, month=2, drift=True)
    folder = folder_for(workspace.settings)
    write_log(
        folder,
        "churn",
        _records(model, before, T0 - DAY, "calm"),
        _records(model, drifted, T0, "drift"),
    )
    (workspace.root / "loop_kpis.py").write_text(
        "def hit_rate(window):\n"
        "    labelled = window[window['label'].notna()]\n"
        "    return None if labelled.empty else float((labelled['prediction'] == labelled['label']).mean())\n"
    )
    ws = configure(
        workspace,
        "[monitors.churn]\n"
        'kpis = { hit_rate = "loop_kpis:hit_rate" }\n'
        'thresholds = ["drift_share <= 0.2", "estimated.roc_auc >= 0.6", "realised.roc_auc >= 0.6"]\n'
        'segments = ["contract"]\n',
    )
    window = (T0, T0 + DAY)
    try:
        first = evaluate(ws, "churn", window=window)
        labels = drifted["churned"].tolist()
        ids = [f"drift-{i}" for i in range(len(labels))]
        record_labels(folder, "churn", pa.table({"id": pa.array(ids), "label": as_array(labels)}))
        second = evaluate(ws, "churn", window=window)
        written = write_monitor_report(
            ws.store, second, monitor_config(ws.settings.raw, "churn"), ws.root / "m.html"
        )
        page = written.read_text()
    finally:
        ws.close()

    assert first.reference == "churn@1"  # the training dataset version of the live model
    status = {c.threshold.metric: c.status for c in first.checks}
    assert status["drift_share"] == "crossed"
    assert status["realised.roc_auc"] == "no data"
    assert status["estimated.roc_auc"] == "ok"
    assert first.drift is not None and "contract" in first.drift.drifted_columns
    assert first.summary.split(";")[0].endswith(f"of {len(first.drift.columns)} features drifted")
    worst = max(first.drift.columns, key=lambda c: c.score / c.threshold if c.drifted else 0)
    assert worst.explanation in first.summary  # the most drifted column, in plain words
    assert any("no labels have come back yet" in n for n in first.notes)
    assert first.point("prediction_drift") is not None  # against the calm day before
    assert first.point("drift.contract") == pytest.approx(first.drift.column("contract").score)
    assert first.point("estimated.roc_auc", segment="contract=Two year") is not None

    # the labels came: realised sits beside the estimate; the drift alert is not raised again
    realised = second.point("realised.roc_auc")
    estimated = second.point("estimated.roc_auc")
    assert realised is not None and estimated is not None
    assert abs(realised - estimated) < 0.1
    assert second.point("labelled_share") == 1.0
    # a KPI sees the labels joined to the window: before they came it had nothing to measure
    assert first.point("kpi.hit_rate") is None
    assert second.point("kpi.hit_rate") == pytest.approx(second.point("realised.accuracy"))
    assert second.point("kpi.hit_rate", segment="contract=Two year") is not None
    assert [a.metric for a in first.alerts] == ["drift_share"]
    assert second.alerts == ()
    assert np.isfinite(
        second.point("realised.roc_auc", version="churn@1", role="primary") or np.nan
    )

    # the report: drift per column, estimated beside realised over the two runs
    assert "Drift by column" in page and "payment_method" in page
    assert "roc_auc: estimated and realised" in page
    assert "estimated roc_auc" in page and "realised roc_auc" in page

    if workspace.store.dialect == "sqlite" and find_browser() is not None:
        _renders(written)


def _renders(path: Path) -> None:
    """In headless Chromium every drift column draws bars and every series over time its points
    (both runs here share one window, so a series is two points at one time, not a line)."""
    browser = Chromium(find_browser() or "chromium")
    try:
        browser.open(path)
        charts = browser.evaluate(MEASURE)
    finally:
        browser.close()
    kinds = [c["kind"] for c in charts]
    assert kinds.count("hist") + kinds.count("cats") >= 10, kinds  # one per input column
    assert all(c["bars"] > 0 for c in charts if c["kind"] in ("hist", "cats")), charts
    lines = [c for c in charts if c["kind"] == "line"]
    assert len(lines) >= 4 and all(c["points"] >= 1 for c in lines), lines
    assert any(c["limits"] == 1 for c in lines)  # a checked threshold is drawn
