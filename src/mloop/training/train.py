"""``mloop train``: a dataset version in, a tracked run with a held-out evaluation and a model out.

Reproducible by construction: the data is read from its content-addressed snapshot (not the
original path), the split and the estimator are seeded, and the run records the dataset hash, the
parameters, the environment and the code commit. The held-out split is stored with the run so that
promotion gates can re-score any two models on the very same rows.

Stages: ``prepare`` (training/prepare.py) reads and checks everything that needs no fitting,
then ``split``, ``fit``, ``score`` and ``record`` (training/stages.py) run inside the run.

Failures: what can be checked without fitting (the target, the task, the split size, the model
and its construction) is refused before a run exists; what only fitting reveals (a --param scikit-learn
rejects, a custom model's own error) ends the run FAILED with the error recorded, never
FINISHED or RUNNING. Metrics that are undefined on the held-out rows (roc_auc and log_loss when
they hold a single class, or for a model without ``predict_proba``) are left out, not reported.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mloop.artifacts import ArtifactStore
from mloop.data.datasets import DatasetVersion
from mloop.data.validation import ValidationReport
from mloop.plural import plural
from mloop.scoring.features import FeatureSpec
from mloop.scoring.names import ESTIMATOR_TAG, VALIDATION_TAG
from mloop.scoring.targets import Task
from mloop.signature import Signature
from mloop.store import Store
from mloop.tracking import runs
from mloop.tracking.environment import capture_environment
from mloop.tracking.termination import ended_status
from mloop.training import stages
from mloop.training.defaults import defaults_for, for_prediction
from mloop.training.estimators import estimator_name, make_estimator
from mloop.training.prepare import infer_task, prepare

__all__ = ["TrainResult", "infer_task", "train", "validation_summary"]


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
    model: str  # the --model name (or MODULE:CALLABLE)
    estimator: str  # the estimator's real class, module-qualified
    # Metrics left out because the held-out rows cannot score them -> why (roc_auc when a
    # rare class has no held-out row), so the output can say so instead of just lacking them.
    unscored: dict[str, str] = field(default_factory=dict)


def train(
    store: Store,
    artifacts: ArtifactStore,
    *,
    data: str,
    target: str,
    user: str,
    root: Path,
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    experiment: str = "default",
    task: Task | str | None = None,
    drop: Sequence[str] = (),
    status: Callable[[str], None] | None = None,
    run_name: str | None = None,
    parent_run_id: str | None = None,
) -> TrainResult:
    """Train, evaluate on a held-out split and record everything as one run.

    ``model`` defaults to the task's linear model (logistic or ridge); ``task`` overrides the
    inferred one; ``parent_run_id`` makes the run a child of that one (a sweep's trial). Raises ``NotFound`` for an unknown dataset, ``InvalidInput`` for a bad target,
    task, model, parameter or split. A failure after the run started ends the run as FAILED
    (Ctrl-C: KILLED) and re-raises.
    """
    say = status or (lambda _msg: None)
    params = dict(params or {})
    prepared = prepare(
        store,
        artifacts,
        data=data,
        target=target,
        model=model,
        task=task,
        test_size=test_size,
        drop=drop,
        root=root,
        say=say,
    )
    estimator = make_estimator(prepared.model, prepared.task, params, seed=seed, root=root)
    version = prepared.version
    run = runs.create_run(
        store,
        experiment=experiment,
        user=user,
        environment=capture_environment(root),
        name=run_name,
        parent_run_id=parent_run_id,
    )
    try:
        runs.log_params(
            store,
            run.id,
            {
                "model": prepared.model,
                "target": target,
                "task": prepared.task.value,
                "test_size": test_size,
                "seed": seed,
                **({"drop": sorted(drop)} if drop else {}),
                **defaults_for(prepared.model),  # what the model ran with, not only what was set
                **params,
            },
        )
        runs.set_tags(
            store,
            run.id,
            {
                "mloop.source": "mloop train",
                "mloop.dataset": version.ref,
                ESTIMATOR_TAG: estimator_name(estimator),
                VALIDATION_TAG: validation_summary(prepared.validation, prepared.revision),
            },
        )
        runs.log_input(store, run.id, version.id, role="train")
        held = stages.split(prepared, test_size=test_size, seed=seed)
        say(f"fitting {prepared.model} on {plural(len(held.x_train), 'row')}")
        fitted = stages.fit(prepared, held, estimator)
        say(f"evaluating on {plural(len(held.x_test), 'held-out row')}")
        scores = stages.score(prepared, held, fitted)
        metrics = scores.metrics
        unscored = stages.unscored(prepared, held, fitted, scores)
        for_prediction(prepared.model, estimator, params)  # n_jobs back to 1 before it is saved
        recorded = stages.record(store, artifacts, run.id, prepared, held, fitted, scores)
    except BaseException as exc:
        tail = "".join(traceback.format_exception(exc)[-3:])
        # Ctrl-C, SIGTERM, SIGHUP: the run did not fail, it was stopped (as for start_run()).
        runs.finish_run(
            store, run.id, ended_status(exc), error=f"{type(exc).__name__}: {exc}\n{tail}"
        )
        raise
    runs.finish_run(store, run.id, "FINISHED")
    return TrainResult(
        dataset=version,
        run_id=run.id,
        task=prepared.task,
        metrics=metrics,
        model_hash=recorded.model.blob_hash,
        flavor=recorded.flavor,
        features=prepared.spec,
        train_rows=len(held.x_train),
        test_rows=len(held.x_test),
        signature=recorded.signature,
        validation=prepared.validation,
        model=prepared.model,
        estimator=estimator_name(estimator),
        unscored=unscored,
    )


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
