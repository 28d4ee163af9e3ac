"""``mloop train``: a dataset version in, a tracked run with a held-out evaluation and a model out.

Reproducible by construction: the data is read from its content-addressed snapshot (not the
original path), the split and the estimator are seeded, and the run records the dataset hash, the
parameters, the environment and the code commit. The held-out split is stored with the run so that
promotion gates can re-score any two models on the very same rows.

Failures: what can be checked without fitting (the target, the split size, the model and its
construction) is refused before a run exists; what only fitting reveals (a --param scikit-learn
rejects, a custom model's own error) ends the run FAILED with the error recorded, never
FINISHED or RUNNING. Metrics that are undefined on the held-out rows (roc_auc and log_loss when
they hold a single class, or for a model without ``predict_proba``) are left out, not reported.
"""

from __future__ import annotations

import difflib
import io
import json
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from mloop.artifacts import ArtifactStore
from mloop.data.datasets import (
    DatasetVersion,
    current_schema_revision,
    get_version,
    load_frame,
)
from mloop.data.schema import Schema
from mloop.data.validation import ValidationReport, validate_frame
from mloop.errors import InvalidInput
from mloop.flavors import flavor_for
from mloop.scoring.features import FeatureSpec, coerce, feature_spec
from mloop.scoring.metrics import classification_metrics, regression_metrics
from mloop.scoring.names import (
    HOLDOUT_ARTIFACT,
    MODEL_ARTIFACT,
    SIGNATURE_ARTIFACT,
    VALIDATION_TAG,
)
from mloop.scoring.targets import Task, target_values
from mloop.signature import Signature
from mloop.store import Store
from mloop.tracking import runs
from mloop.tracking.environment import capture_environment
from mloop.tracking.termination import ended_status
from mloop.training.estimators import BUILTIN, build_pipeline, make_estimator

MAX_CLASSES_FOR_INTEGER_TARGET = 20
MAX_COLUMNS_LISTED = 20


@dataclass(frozen=True)
class TrainResult:
    dataset: DatasetVersion
    run_id: str
    task: Task
    metrics: dict[str, float]
    model_hash: str
    flavor: str
    features: FeatureSpec
    train_rows: int
    test_rows: int
    signature: Signature
    validation: ValidationReport  # the training rows against the signature's rules


def infer_task(schema: Schema, target: str, values: pd.Series) -> Task:
    kind = schema.column(target).type
    if kind in {"boolean", "categorical", "string"}:
        return Task.CLASSIFICATION
    if kind == "integer" and values.nunique() <= MAX_CLASSES_FOR_INTEGER_TARGET:
        return Task.CLASSIFICATION
    return Task.REGRESSION


def _check_inputs(schema: Schema, target: str, test_size: float, model: str) -> None:
    names = [c.name for c in schema.columns]
    if target not in names:
        raise InvalidInput(
            f"Target column {target!r} is not in the dataset; {_columns_hint(target, names)}"
        )
    if schema.column(target).type == "datetime":
        raise InvalidInput(
            f"Target {target!r} is a datetime column, and mloop train predicts classes or numbers; "
            "choose another --target (or add a numeric column derived from the date)."
        )
    if not 0.0 < test_size < 1.0:
        raise InvalidInput(f"--test-size must be between 0 and 1 (exclusive); got {test_size}.")
    if model not in BUILTIN and ":" not in model:
        raise InvalidInput(
            f"Unknown --model {model!r}; use one of {', '.join(BUILTIN)} or MODULE:CALLABLE."
        )


def _columns_hint(target: str, names: list[str]) -> str:
    """The closest column names, or all of them when there are few: a wide table's 1,500 names
    in an error message bury the one that matters."""
    close = difflib.get_close_matches(target, names, n=3, cutoff=0.6)
    close += [n for n in names if n.lower() == target.strip().lower() and n not in close]
    if close:
        return "did you mean " + " or ".join(repr(n) for n in close[:3]) + "?"
    if len(names) <= MAX_COLUMNS_LISTED:
        return f"columns are: {', '.join(names)}."
    shown = ", ".join(names[:MAX_COLUMNS_LISTED])
    return f"columns are: {shown}, … ({len(names)} in all; `mloop data show` lists them)."


def _check_classes(y: np.ndarray, target: str, ref: str) -> None:
    classes = len(np.unique(y.astype(str)))
    if classes < 2:
        raise InvalidInput(
            f"Target {target!r} has a single class in {ref}; a classifier needs at least two."
        )
    # An ID or free-text column: most classes would have one row, so nothing can be learned (and
    # scikit-learn only warns). Two classes pass, so a tiny binary table still trains.
    if classes > 2 and classes > len(y) / 2:
        raise InvalidInput(
            f"Target {target!r} has {classes} distinct values in {len(y)} rows, so most classes "
            "have a single row (an ID or free text?); choose a column whose values repeat."
        )


def _split(
    features: pd.DataFrame,
    y: np.ndarray,
    frame: pd.DataFrame,
    *,
    task: Task,
    test_size: float,
    seed: int,
) -> tuple[Any, ...]:
    stratify = None
    if task == "classification":
        _, counts = np.unique(y.astype(str), return_counts=True)
        if counts.min() >= 2 and int(len(y) * test_size) >= len(counts):
            stratify = y
    try:
        return tuple(
            train_test_split(
                features, y, frame, test_size=test_size, random_state=seed, stratify=stratify
            )
        )
    except ValueError as exc:
        raise InvalidInput(
            f"Cannot split {len(y)} rows with --test-size {test_size} ({exc}); add rows or change it."
        ) from exc


def evaluate(pipeline: Any, features: pd.DataFrame, y: np.ndarray, task: Task) -> dict[str, float]:
    predictions = pipeline.predict(features)
    if task == "regression":
        return regression_metrics(y, predictions)
    proba = pipeline.predict_proba(features) if hasattr(pipeline, "predict_proba") else None
    classes = np.asarray(getattr(pipeline, "classes_", np.unique(y)))
    return classification_metrics(y, predictions, proba, classes)


def train(
    store: Store,
    artifacts: ArtifactStore,
    *,
    data: str,
    target: str,
    user: str,
    root: Path,
    model: str = "logistic",
    params: Mapping[str, Any] | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    experiment: str = "default",
    task: Task | None = None,
    drop: Sequence[str] = (),
    status: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train, evaluate on a held-out split and record everything as one run.

    Raises ``NotFound`` for an unknown dataset, ``InvalidInput`` for a bad target, model, parameter
    or split. A failure after the run started ends the run as FAILED (Ctrl-C: KILLED) and re-raises.
    """
    say = status or (lambda _msg: None)
    params = dict(params or {})
    version = get_version(store, data)
    schema = version.schema
    rules, revision = current_schema_revision(store, version.name)
    _check_inputs(schema, target, test_size, model)
    say(f"reading {version.ref}")
    frame = load_frame(store, artifacts, version)
    frame = frame[frame[target].notna()].reset_index(drop=True)
    if len(frame) < 2:
        raise InvalidInput(
            f"{version.ref} has {len(frame)} rows with a value in {target!r}; at least 2 are needed."
        )
    task = Task(task) if task else infer_task(schema, target, frame[target])
    spec = feature_spec(
        schema, target=target, profile=version.profile.get("columns", {}), drop=drop
    )
    y = target_values(frame[target], schema.column(target).type, task)
    if task == "classification":
        _check_classes(y, target, version.ref)
    estimator = make_estimator(model, task, params, seed=seed, root=root)

    def signature_for(classes: Any = None, example: pd.DataFrame | None = None) -> Signature:
        return Signature.build(
            schema=rules,
            schema_revision=revision,
            inferred=schema,
            target=target,
            task=task,
            target_type=schema.column(target).type,
            classes=classes,
            features=spec,
            dataset=version.ref,
            dataset_hash=version.content_hash,
            example=example,
        )

    say(f"validating {version.ref} against schema revision {revision}")
    validation = validate_frame(signature_for().rules(), frame, root=root)

    run = runs.create_run(
        store, experiment=experiment, user=user, environment=capture_environment(root)
    )
    try:
        runs.log_params(
            store,
            run.id,
            {
                "model": model,
                "target": target,
                "task": task,
                "test_size": test_size,
                "seed": seed,
                **({"drop": sorted(drop)} if drop else {}),
                **params,
            },
        )
        runs.set_tags(
            store,
            run.id,
            {
                "mloop.source": "mloop train",
                "mloop.dataset": version.ref,
                VALIDATION_TAG: validation_summary(validation, revision),
            },
        )
        runs.log_input(store, run.id, version.id, role="train")
        x_train, x_test, y_train, y_test, _, holdout = _split(
            coerce(frame, spec), y, frame, task=task, test_size=test_size, seed=seed
        )
        label_codes = None
        if task == "classification" and _wants_integer_labels(estimator):
            label_codes, y_train, y_test = _encode_labels(y_train, y_test)
        pipeline = build_pipeline(spec, estimator)
        say(f"fitting {model} on {len(x_train)} rows")
        # scikit-learn says ValueError about data or parameters it cannot use; user code
        # (MODULE:CALLABLE) may fail any way, and that is the user's to fix, not an mloop bug.
        user_errors = (ValueError,) if model in BUILTIN else (Exception,)
        try:
            pipeline.fit(x_train, y_train)
        except user_errors as exc:
            raise InvalidInput(
                f"{model} could not be fitted on {version.ref} ({_reason(exc)}); check the target, the rows and --param values."
            ) from exc
        say(f"evaluating on {len(x_test)} held-out rows")
        try:
            metrics = evaluate(pipeline, x_test, y_test, task)
        except user_errors as exc:  # e.g. a regressor's numbers scored as classes
            raise InvalidInput(
                f"{model}'s predictions cannot be scored as {task} of {target!r} ({_reason(exc)}); "
                f"use a {'classifier' if task == 'classification' else 'regressor'}."
            ) from exc
        runs.log_metrics_rows(store, _metric_rows(run.id, metrics))
        if label_codes is not None:  # the saved model answers in the target's own labels
            estimator.mloop_classes_ = label_codes

        flavor = flavor_for(pipeline)
        model_blob = flavor.save(pipeline)
        record = runs.log_artifact_bytes(
            store, artifacts, run.id, MODEL_ARTIFACT, model_blob, kind=f"model:{flavor.name}"
        )
        holdout_bytes = io.BytesIO()
        holdout.to_parquet(holdout_bytes, index=False)
        runs.log_artifact_bytes(
            store, artifacts, run.id, HOLDOUT_ARTIFACT, holdout_bytes.getvalue(), kind="holdout"
        )
        classes = label_codes if label_codes is not None else getattr(pipeline, "classes_", None)
        signature = signature_for(classes, holdout)
        runs.log_artifact_bytes(
            store,
            artifacts,
            run.id,
            SIGNATURE_ARTIFACT,
            json.dumps(signature.to_stored(), indent=2).encode(),
            kind="signature",
        )
    except BaseException as exc:
        tail = "".join(traceback.format_exception(exc)[-3:])
        # Ctrl-C, SIGTERM, SIGHUP: the run did not fail, it was stopped (as for start_run()).
        runs.finish_run(store, run.id, ended_status(exc), error=f"{type(exc).__name__}: {exc}\n{tail}")
        raise
    runs.finish_run(store, run.id, "FINISHED")
    return TrainResult(
        dataset=version,
        run_id=run.id,
        task=task,
        metrics=metrics,
        model_hash=record.blob_hash,
        flavor=flavor.name,
        features=spec,
        train_rows=len(x_train),
        test_rows=len(x_test),
        signature=signature,
        validation=validation,
    )


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


def validation_summary(report: ValidationReport, revision: int) -> str:
    """One line for the run's tag: how the training rows fared against the rules in force."""
    if report.ok:
        return f"passed: {report.rows_checked} rows, schema revision {revision}"
    shown = "; ".join(f"{v.column}: {v.rule} ({v.count})" for v in report.violations[:5])
    more = len(report.violations) - 5
    return (
        f"{len(report.violations)} violation(s) in {report.rows_checked} rows, schema revision "
        f"{revision}: {shown}" + (f"; {more} more" if more > 0 else "")
    )


def _metric_rows(run_id: str, metrics: Mapping[str, float]) -> list[dict[str, Any]]:
    import time

    now = int(time.time() * 1000)
    return [
        {"run_id": run_id, "key": key, "step": 0, "timestamp_ms": now, "value": float(value)}
        for key, value in metrics.items()
    ]
