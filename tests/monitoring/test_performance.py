"""Realised performance per window, version, role and segment, and CBPE's estimate beside it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn import metrics as skm

from mloop.errors import InvalidInput
from mloop.monitoring.calibration import CALIBRATION_DIR
from mloop.monitoring.cbpe import estimates
from mloop.monitoring.feedback import record_labels
from mloop.monitoring.performance import estimated, performance, realised
from mloop.predlog import PredictionLog, folder_for
from mloop.registry.loading import LoadedModel
from mloop.scoring.calibration import calibration_error, fit_calibrator
from mloop.scoring.metrics import classification_metrics, regression_metrics
from mloop.scoring.names import CALIBRATION_ARTIFACT
from mloop.workspace import Workspace
from tests.predlog.conftest import T0, make_records

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def _label(root: Path, endpoint: str, ids: list[str], labels: list[Any]) -> None:
    from mloop.monitoring.labels import as_array

    record_labels(root, endpoint, pa.table({"id": pa.array(ids), "label": as_array(labels)}))


# --- the estimator's arithmetic, on probabilities calibrated by construction ----------------


def test_cbpe_matches_realised_on_calibrated_binary_probabilities() -> None:
    rng = np.random.default_rng(7)
    p = rng.beta(2, 3, 5000)
    y = rng.random(5000) < p
    raw = np.column_stack([1 - p, p])
    predicted = (p >= 0.5).astype(int)
    got = estimates(raw, raw, predicted)
    truth = classification_metrics(y, predicted.astype(bool), raw, np.array([False, True]))
    for name in METRICS:
        assert abs(got[name] - truth[name]) <= 0.03, (name, got[name], truth[name])


def test_cbpe_multiclass_is_one_vs_rest_macro() -> None:
    rng = np.random.default_rng(8)
    p = rng.dirichlet([0.6, 0.6, 0.6], 5000)
    y = np.array([rng.choice(3, p=row) for row in p])
    predicted = p.argmax(axis=1)
    got = estimates(p, p, predicted)
    truth = classification_metrics(y, predicted, p, np.array([0, 1, 2]))
    for name in METRICS:
        assert abs(got[name] - truth[name]) <= 0.03, (name, got[name], truth[name])


# --- realised, from the log and the labels ---------------------------------------------------


def _log_classifier(root: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = np.random.default_rng(3)
    primary = make_records(300, at=T0)
    shadow = make_records(300, at=T0, role="shadow", model="churn-next", version=2)
    for group in (primary, shadow):
        for r in group:
            p = float(rng.random())
            r["probabilities"] = {"yes": p, "no": 1 - p}
            r["prediction"] = "yes" if p >= 0.5 else "no"
    with PredictionLog(root) as log:
        log.submit("churn", primary + shadow)
    return primary, shadow


def test_realised_per_version_and_role_uses_train_metrics(
    workspace: Workspace, tmp_path: Path
) -> None:
    root = folder_for(workspace.settings)
    primary, shadow = _log_classifier(root)
    rng = np.random.default_rng(4)
    truth = {r["prediction_id"]: ("yes" if rng.random() < 0.4 else "no") for r in primary[:200]}
    _label(root, "churn", list(truth), list(truth.values()))
    report = realised(workspace.store, root, "churn")
    assert {(g.model, g.version, g.role) for g in report.groups} == {
        ("churn", 1, "primary"),
        ("churn-next", 2, "shadow"),
    }
    for group, records in (("primary", primary), ("shadow", shadow)):
        found = report.group(role=group)
        assert found is not None and found.rows == 300 and found.labelled == 200
        rows = records[:200]
        y_true = np.array([truth[r["prediction_id"]] for r in rows], dtype=object)
        y_pred = np.array([r["prediction"] for r in rows], dtype=object)
        proba = np.array([[r["probabilities"]["no"], r["probabilities"]["yes"]] for r in rows])
        expected = classification_metrics(
            y_true, y_pred, proba, np.array(["no", "yes"], dtype=object)
        )
        assert found.realised == pytest.approx(expected)
    body = report.to_json()
    assert body["groups"][0]["realised"]["roc_auc"] == pytest.approx(
        report.groups[0].realised["roc_auc"]
    )


def test_a_window_holds_only_its_predictions_and_a_later_label_counts_in_it(
    workspace: Workspace,
) -> None:
    root = folder_for(workspace.settings)
    primary, _ = _log_classifier(root)  # one record a second from T0
    _label(root, "churn", [r["prediction_id"] for r in primary], ["yes"] * 300)
    window = realised(
        workspace.store,
        root,
        "churn",
        since=T0 + dt.timedelta(seconds=100),
        until=T0 + dt.timedelta(seconds=150),
    )
    found = window.group()
    assert found is not None and (found.rows, found.labelled) == (50, 50)
    assert window.to_json()["window"]["start"] == "2026-01-05T12:01:40Z"


def test_segments_split_every_group(workspace: Workspace) -> None:
    root = folder_for(workspace.settings)
    primary, _ = _log_classifier(root)
    _label(root, "churn", [r["prediction_id"] for r in primary], ["no"] * 300)
    report = realised(workspace.store, root, "churn", segment_by="plan")
    segments = {g.segment: g.rows for g in report.groups if g.role == "primary"}
    assert segments == {None: 300, "basic": 200, "pro": 100}
    assert report.group(segment="pro") is not None
    with pytest.raises(InvalidInput, match="No column 'nope'"):
        realised(workspace.store, root, "churn", segment_by="nope")
    with pytest.raises(InvalidInput, match="'charges' has 300 values in the window, over 100"):
        realised(workspace.store, root, "churn", segment_by="charges")


def test_regression_realised(workspace: Workspace) -> None:
    root = folder_for(workspace.settings)
    records = make_records(50, probabilities=None)
    for i, r in enumerate(records):
        r["prediction"] = float(i)
    with PredictionLog(root) as log:
        log.submit("charges", [dict(r, endpoint="charges") for r in records])
    truth = [float(i) + (1.0 if i % 2 else -2.0) for i in range(50)]
    _label(root, "charges", [r["prediction_id"] for r in records], truth)
    found = realised(workspace.store, root, "charges").group()
    assert found is not None and found.task == "regression"
    expected = regression_metrics(np.array(truth), np.arange(50, dtype=float))
    assert found.realised == pytest.approx(expected)


# --- the promise: CBPE within 0.03 of realised under covariate shift -----------------


def _draw(rng: np.random.Generator, n: int, shifted: bool) -> pd.DataFrame:
    """A fixed P(y|x); ``shifted`` moves P(x) (means and spreads), never the relation."""
    if shifted:
        x1, x2, x3 = rng.normal(0.7, 1.0, n), rng.normal(-0.4, 1.2, n), rng.normal(0.0, 0.8, n)
    else:
        x1, x2, x3 = rng.normal(0, 1, n), rng.normal(0, 1, n), rng.normal(0, 1, n)
    logit = 1.2 * x1 - 0.8 * x2 + 0.5 * x3 - 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "y": y})


@dataclass
class Served:
    root: Path
    model: LoadedModel
    records: list[dict[str, Any]]
    current: pd.DataFrame


def _serve_shifted(workspace: Workspace, tmp_path: Path, *, train_rows: int, rows: int) -> Served:
    """A logistic model trained on unshifted rows, its answers to shifted rows in the log."""
    from mloop.api import add_dataset
    from mloop.registry.loading import load_model
    from mloop.registry.register import register_run
    from mloop.training.train import train

    rng = np.random.default_rng(15)
    path = tmp_path / "train.csv"
    _draw(rng, train_rows, shifted=False).to_csv(path, index=False)
    add_dataset("shift", path, workspace=workspace)
    run = train(
        workspace.store,
        workspace.artifacts,
        data="shift",
        target="y",
        user="tester",
        root=workspace.root,
        model="logistic",
        task="classification",
        seed=1,
    )
    version = register_run(
        workspace.store, workspace.artifacts, run_id=run.run_id, name="shift", actor="tester"
    )
    model = load_model(workspace.store, workspace.artifacts, version.ref)
    current = _draw(rng, rows, shifted=True)
    features = current.drop(columns=["y"])
    proba = model.predict_proba(features)
    predicted = model.predict(features)
    assert proba is not None
    assert model.version.signature.classes == [0, 1]
    records = [
        {
            "timestamp": T0 + dt.timedelta(milliseconds=i),
            "endpoint": "shift",
            "request_id": f"r{i}",
            "prediction_id": f"r{i}",
            "model": "shift",
            "version": version.version,
            "role": "primary",
            "status": 200,
            "inputs": row,
            "prediction": int(predicted[i]),
            "probabilities": {"0": float(proba[i, 0]), "1": float(proba[i, 1])},
        }
        for i, row in enumerate(features.to_dict("records"))
    ]
    root = folder_for(workspace.settings)
    with PredictionLog(root) as log:
        log.submit("shift", records)
    return Served(root, model, records, current)


def test_estimate_is_within_003_of_realised_under_covariate_shift(
    workspace: Workspace, tmp_path: Path
) -> None:
    served = _serve_shifted(workspace, tmp_path, train_rows=8000, rows=5000)
    root, model, records, current = served.root, served.model, served.records, served.current
    before = estimated(workspace.store, workspace.artifacts, root, "shift").group()
    assert before is not None and before.labelled == 0 and before.realised == {}
    assert set(before.estimated) == set(METRICS)
    # a logistic model of a logistic truth is calibrated already: isotonic would only add noise
    assert before.calibration is not None and before.calibration["method"] == "none"
    assert "already calibrated" in before.calibration["source"]
    assert list((root / CALIBRATION_DIR).glob("*.json"))  # fitted once, then read back

    record_labels(
        root,
        "shift",
        pa.table({"id": [r["prediction_id"] for r in records], "label": current["y"].to_numpy()}),
        output=model.version.signature.output,
    )
    after = performance(workspace.store, workspace.artifacts, root, "shift").group()
    assert after is not None and after.labelled == 5000
    assert after.estimated == pytest.approx(before.estimated)
    for name in METRICS:
        gap = abs(after.estimated[name] - after.realised[name])
        assert gap <= 0.03, (
            f"{name}: estimated {after.estimated[name]:.3f}, realised {after.realised[name]:.3f}"
        )
    scores = [r["probabilities"]["1"] for r in records]
    held_out = skm.roc_auc_score(current["y"], scores)
    assert after.realised["roc_auc"] == pytest.approx(held_out)


# --- calibration: fitted where it helps, skipped where the model is calibrated already -------


def _overconfident(
    rng: np.random.Generator, n: int, shift: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """True P(y=1|x) from a fixed logit, the model's probabilities three times too sharp."""
    logit = rng.normal(shift, 1.2, n)
    truth = rng.random(n) < 1 / (1 + np.exp(-logit))
    sharp = 1 / (1 + np.exp(-3 * logit))
    return np.column_stack([1 - sharp, sharp]), truth


def test_an_overconfident_model_is_calibrated_and_then_estimated_within_003() -> None:
    rng = np.random.default_rng(21)
    held_raw, held_truth = _overconfident(rng, 1600)
    calibrator = fit_calibrator(held_raw, held_truth, [False, True], "a run's split")
    assert calibrator.curves is not None and calibrator.to_json()["method"] == "isotonic"
    raw, truth = _overconfident(rng, 5000, shift=0.6)  # covariate shift: P(x) moves
    predicted = (raw[:, 1] >= 0.5).astype(int)
    got = estimates(calibrator.apply(raw), raw, predicted)
    expected = classification_metrics(truth, predicted.astype(bool), raw, np.array([False, True]))
    uncalibrated = estimates(raw, raw, predicted)
    assert abs(uncalibrated["accuracy"] - expected["accuracy"]) > 0.05  # raw would mislead
    for name in METRICS:
        assert abs(got[name] - expected[name]) <= 0.03, (name, got[name], expected[name])


def test_a_calibrated_model_keeps_its_own_probabilities() -> None:
    rng = np.random.default_rng(22)
    p = rng.beta(2, 2, 1600)
    truth = rng.random(1600) < p
    calibrator = fit_calibrator(np.column_stack([1 - p, p]), truth, [False, True], "a run's split")
    assert calibrator.curves is None and "already calibrated" in calibrator.source
    assert calibration_error(p, truth.astype(float)) < 0.05


def _stored_calibration(workspace: Workspace, version: Any) -> Path:
    from mloop.tracking.runs import get_run

    run = get_run(workspace.store, version.run_id)
    stored = next(a for a in run.artifacts if a.path == CALIBRATION_ARTIFACT)
    return workspace.artifacts.local_path(stored.blob_hash)


def test_training_stores_the_calibration_the_monitor_would_fit_by_rescoring(
    workspace: Workspace, tmp_path: Path
) -> None:
    from mloop.monitoring.calibration import _from_run
    from mloop.registry.gates import score
    from mloop.registry.holdout import load_holdout
    from mloop.registry.loading import load_version

    served = _serve_shifted(workspace, tmp_path, train_rows=3000, rows=300)
    version = served.model.version
    stored = _from_run(workspace.store, workspace.artifacts, version)
    assert stored is not None
    holdout = load_holdout(workspace.store, workspace.artifacts, version, None)
    scored = score(load_version(workspace.artifacts, version), holdout)
    assert scored.proba is not None
    refit = fit_calibrator(scored.proba, scored.y_true, [0, 1], holdout.source)
    assert (stored.rows, stored.source) == (refit.rows, refit.source) == (600, stored.source)
    assert "held-out split of run" in stored.source
    assert (stored.curves is None) == (refit.curves is None)
    raw = scored.proba
    assert stored.apply(raw) == pytest.approx(refit.apply(raw))
    # the monitor reads it from the run and caches it: the model is never loaded for it
    blob = workspace.artifacts.local_path(version.artifact_hash)
    blob.chmod(0o644)
    blob.write_bytes(blob.read_bytes()[:-5])
    found = estimated(workspace.store, workspace.artifacts, served.root, "shift").group()
    assert found is not None and found.calibration is not None
    assert found.calibration["source"] == stored.source
    assert len(list((served.root / CALIBRATION_DIR).glob("*.json"))) == 1


def test_a_model_that_cannot_be_rescored_is_estimated_raw_and_fitted_again_later(
    workspace: Workspace, tmp_path: Path
) -> None:
    served = _serve_shifted(workspace, tmp_path, train_rows=600, rows=300)
    blob = workspace.artifacts.local_path(served.model.version.artifact_hash)
    good = blob.read_bytes()
    blob.chmod(0o644)
    blob.write_bytes(good[:-5])
    calibration = _stored_calibration(workspace, served.model.version)
    stored = calibration.read_bytes()
    calibration.chmod(0o644)
    calibration.write_bytes(stored[:-5])  # the run's curves unreadable: the model is re-scored
    found = estimated(workspace.store, workspace.artifacts, served.root, "shift").group()
    assert found is not None and set(found.estimated) == set(METRICS)
    assert found.calibration is not None and "fails its hash check" in found.calibration["source"]
    assert not list((served.root / CALIBRATION_DIR).glob("*.json"))  # not cached: fitted later
    blob.write_bytes(good)
    again = estimated(workspace.store, workspace.artifacts, served.root, "shift").group()
    assert again is not None and again.calibration is not None
    assert "held-out rows" in again.calibration["source"]


def test_a_window_without_answers_has_no_groups(workspace: Workspace) -> None:
    root = folder_for(workspace.settings)
    failed = make_records(5, status=500, prediction=None, probabilities=None, error="boom")
    with PredictionLog(root) as log:
        log.submit("churn", failed)
    assert performance(workspace.store, workspace.artifacts, root, "churn").groups == ()
    _log_classifier(root)
    late = realised(workspace.store, root, "churn", since=T0 + dt.timedelta(days=3))
    assert late.groups == () and late.group() is None


def test_a_retry_answered_by_the_canary_then_the_champion_counts_once_for_the_champion(
    workspace: Workspace,
) -> None:
    root = folder_for(workspace.settings)
    primary = make_records(40, start=1)
    canary = make_records(1, role="canary", model="churn", version=2, prediction="yes")
    retry = make_records(1, at=T0 + dt.timedelta(seconds=50), prediction="no")
    with PredictionLog(root) as log:
        log.submit("churn", primary + canary + retry)
    _label(root, "churn", ["req-0", "req-1"], ["no", "yes"])
    report = realised(workspace.store, root, "churn")
    champion, trial = report.group(role="primary"), report.group(role="canary")
    assert champion is not None and (champion.rows, champion.labelled) == (41, 2)
    assert trial is not None and (trial.rows, trial.labelled) == (1, 0)
