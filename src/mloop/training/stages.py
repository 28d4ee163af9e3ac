"""The stages of ``mloop train`` after preparation: split, fit, score, record.

Each is a function of what the one before produced, so a reader (or the loop, later) can follow
or reuse one step without the others. Errors a user can fix (a --param scikit-learn rejects, a
custom model's own failure, predictions that cannot be scored) are ``InvalidInput``.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mloop.artifacts import ArtifactStore
from mloop.errors import InvalidInput
from mloop.flavors import save_model
from mloop.plural import plural
from mloop.scoring.calibration import Calibrator, fit_calibrator, to_doc
from mloop.scoring.features import coerce
from mloop.scoring.metrics import (
    classes_without_rows,
    classification_metrics,
    regression_metrics,
)
from mloop.scoring.names import (
    CALIBRATION_ARTIFACT,
    HOLDOUT_ARTIFACT,
    MODEL_ARTIFACT,
    SIGNATURE_ARTIFACT,
)
from mloop.scoring.targets import Task
from mloop.signature import Signature
from mloop.store import Store
from mloop.tracking import runs
from mloop.tracking.records import ArtifactRecord
from mloop.training.estimators import BUILTIN, build_pipeline
from mloop.training.prepare import Prepared


@dataclass(frozen=True)
class Split:
    x_train: pd.DataFrame
    x_test: pd.DataFrame
    y_train: np.ndarray
    y_test: np.ndarray
    holdout: pd.DataFrame  # the held-out rows as read, stored with the run for the gates


@dataclass(frozen=True)
class Fitted:
    pipeline: Any
    # The target's labels in code order when the estimator learned codes 0..k-1 (XGBoost).
    label_codes: np.ndarray | None
    y_train: np.ndarray
    y_test: np.ndarray

    @property
    def classes(self) -> Any:
        if self.label_codes is not None:
            return self.label_codes
        return getattr(self.pipeline, "classes_", None)


@dataclass(frozen=True)
class Recorded:
    model: ArtifactRecord
    flavor: str
    signature: Signature


def split(prepared: Prepared, *, test_size: float, seed: int) -> Split:
    """Seeded, and stratified by class when every class can appear on both sides."""
    y, task = prepared.y, prepared.task
    stratify = None
    if task == Task.CLASSIFICATION:
        _, counts = np.unique(y.astype(str), return_counts=True)
        if counts.min() >= 2 and int(len(y) * test_size) >= len(counts):
            stratify = y
    features = coerce(prepared.frame, prepared.spec)
    try:
        x_train, x_test, y_train, y_test, _, holdout = train_test_split(
            features, y, prepared.frame, test_size=test_size, random_state=seed, stratify=stratify
        )
    except ValueError as exc:
        raise InvalidInput(
            f"Cannot split {len(y)} rows with --test-size {test_size} ({exc}); add rows or change it."
        ) from exc
    return Split(x_train, x_test, y_train, y_test, holdout)


def fit(prepared: Prepared, data: Split, estimator: Any) -> Fitted:
    """The estimator behind the feature pipeline, fitted on the training rows."""
    y_train, y_test = data.y_train, data.y_test
    label_codes = None
    if prepared.task == Task.CLASSIFICATION and _wants_integer_labels(estimator):
        label_codes, y_train, y_test = _encode_labels(y_train, y_test)
    pipeline = build_pipeline(prepared.spec, estimator, data.x_train)
    try:
        pipeline.fit(data.x_train, y_train)
    except _user_errors(prepared.model) as exc:
        raise InvalidInput(
            f"{prepared.model} could not be fitted on {prepared.version.ref} ({_reason(exc)}); "
            "check the target, the rows and --param values."
        ) from exc
    if label_codes is not None:  # the saved model answers in the target's own labels
        estimator.mloop_classes_ = label_codes
    return Fitted(pipeline, label_codes, y_train, y_test)


@dataclass(frozen=True)
class Scores:
    metrics: dict[str, float]
    proba: np.ndarray | None  # a classifier's held-out probabilities, for calibration


def evaluate(pipeline: Any, features: pd.DataFrame, y: np.ndarray, task: Task) -> Scores:
    predictions = pipeline.predict(features)
    if task == Task.REGRESSION:
        return Scores(regression_metrics(y, predictions), None)
    proba = pipeline.predict_proba(features) if hasattr(pipeline, "predict_proba") else None
    classes = np.asarray(getattr(pipeline, "classes_", np.unique(y)))
    return Scores(classification_metrics(y, predictions, proba, classes), proba)


def score(prepared: Prepared, data: Split, fitted: Fitted) -> Scores:
    """The held-out metrics (undefined ones, roc_auc on one class, are left out) and, for a
    classifier, its held-out probabilities."""
    try:
        return evaluate(fitted.pipeline, data.x_test, fitted.y_test, prepared.task)
    except _user_errors(prepared.model) as exc:  # e.g. a regressor's numbers scored as classes
        wanted = "classifier" if prepared.task == Task.CLASSIFICATION else "regressor"
        raise InvalidInput(
            f"{prepared.model}'s predictions cannot be scored as {prepared.task} of "
            f"{prepared.target!r} ({_reason(exc)}); use a {wanted}."
        ) from exc


def unscored(prepared: Prepared, data: Split, fitted: Fitted, scores: Scores) -> dict[str, str]:
    """Metrics a classifier with probabilities has but its held-out rows cannot score, with why.

    roc_auc over several classes needs a held-out row of each class the model knows, and a rare
    class can miss the split (or have too few rows to be stratified into it); ``score`` leaves
    the metric out, and without this the train output would just lack a line, saying nothing.
    """
    classes = fitted.classes
    if (
        prepared.task != Task.CLASSIFICATION
        or scores.proba is None
        or classes is None
        or "roc_auc" in scores.metrics
    ):
        return {}
    absent = classes_without_rows(classes, data.y_test)
    if not absent:
        return {}
    totals = pd.Series(np.asarray(prepared.y)).value_counts()
    rows = {c: int(totals.get(c, 0)) for c in absent}
    named = ", ".join(f"{c!r} ({plural(rows[c], 'row')} in all)" for c in absent[:5])
    more = f" and {len(absent) - 5} more" if len(absent) > 5 else ""
    those = "that class" if len(absent) == 1 else "those classes"
    # A class of one row is trained on or held out, never both: only more rows help.
    fix = (
        f"more rows of {those}"
        if min(rows.values()) < 2
        else f"a larger --test-size, or more rows of {those},"
    )
    return {
        "roc_auc": (
            f"the {plural(len(data.y_test), 'held-out row')} have no row of the "
            f"class{'' if len(absent) == 1 else 'es'} {named}{more}, and roc_auc needs one of "
            f"each class; f1 is computed. {fix[0].upper()}{fix[1:]} "
            "gives roc_auc."
        )
    }


def record(
    store: Store,
    artifacts: ArtifactStore,
    run_id: str,
    prepared: Prepared,
    data: Split,
    fitted: Fitted,
    scores: Scores,
) -> Recorded:
    """Metrics, the model (in its safe flavor), the held-out rows, the signature and a
    classifier's calibration curves (so a monitor need not re-score the held-out rows), on the run."""
    runs.log_metrics_rows(store, _metric_rows(run_id, scores.metrics))
    flavor, saved = save_model(fitted.pipeline)
    model = runs.log_artifact_bytes(
        store, artifacts, run_id, MODEL_ARTIFACT, saved, kind=f"model:{flavor.name}"
    )
    holdout_bytes = io.BytesIO()
    data.holdout.to_parquet(holdout_bytes, index=False)
    runs.log_artifact_bytes(
        store, artifacts, run_id, HOLDOUT_ARTIFACT, holdout_bytes.getvalue(), kind="holdout"
    )
    signature = prepared.signature(fitted.classes, data.holdout)
    runs.log_artifact_bytes(
        store,
        artifacts,
        run_id,
        SIGNATURE_ARTIFACT,
        json.dumps(signature.to_stored(), indent=2).encode(),
        kind="signature",
    )
    calibrator = _calibrator(
        prepared, data, fitted, scores, source=f"held-out split of run {run_id}"
    )
    if calibrator is not None:
        runs.log_artifact_bytes(
            store,
            artifacts,
            run_id,
            CALIBRATION_ARTIFACT,
            json.dumps(to_doc(calibrator)).encode(),
            kind="calibration",
        )
    return Recorded(model, flavor.name, signature)


def _calibrator(
    prepared: Prepared, data: Split, fitted: Fitted, scores: Scores, *, source: str
) -> Calibrator | None:
    """The isotonic curves CBPE uses, from the held-out probabilities and labels as read."""
    classes = fitted.classes
    if scores.proba is None or classes is None or scores.proba.shape[1] != len(classes):
        return None
    truth = data.holdout[prepared.target].to_numpy()
    return fit_calibrator(scores.proba, truth, list(classes), source)


def _user_errors(model: str) -> tuple[type[BaseException], ...]:
    """scikit-learn says ValueError about data or parameters it cannot use; user code
    (MODULE:CALLABLE) may fail any way, and that is the user's to fix, not an mloop bug."""
    return (ValueError,) if model in BUILTIN else (Exception,)


def _wants_integer_labels(estimator: Any) -> bool:
    """XGBoost's classifier takes only labels 0..k-1 ("Invalid classes inferred")."""
    from sklearn.base import is_classifier

    return type(estimator).__module__.startswith("xgboost") and is_classifier(estimator)


def _encode_labels(
    y_train: np.ndarray, y_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training labels as 0..k-1; a held-out label never seen in training becomes -1 (scored as
    a wrong answer, as for any model). Returns the labels in code order, then both code arrays."""
    labels = np.unique(y_train)
    codes = np.searchsorted(labels, y_test).clip(0, len(labels) - 1)
    test = np.where(labels[codes] == y_test, codes, -1)
    return labels, np.searchsorted(labels, y_train), test


def _reason(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"


def _metric_rows(run_id: str, metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    return [
        {"run_id": run_id, "key": key, "step": 0, "timestamp_ms": now, "value": float(value)}
        for key, value in metrics.items()
    ]
