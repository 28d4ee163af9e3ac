"""``mloop train --sweep``: a grid of trials, each a parallel task, under one parent run.

The grid is the product of the swept parameters' values (in the order they were given). Every
trial is an ordinary ``train`` run, a child of the sweep's run (``runs.parent_run_id``), handed
to the executor it was given: the local process pool by default, Ray with ``MLOOP_EXECUTOR=ray``.
The trial opens the workspace itself from the settings it is sent, since a worker shares no
connection with the command (SQLite in WAL mode and PostgreSQL both take concurrent writers).

Every combination is checked before anything runs (scikit-learn's own parameter check), so a
parameter the model does not have, or a value it refuses, costs no run. What only fitting
reveals fails that trial alone: it is a FAILED child run with its error, the others go on, and
the parent fails only when every trial did.

The best trial is chosen by the task's primary metric, the one the gates use by default
(``scoring.ranking.resolve_metric("auto")``: roc_auc for classifiers, f1 for those without
probabilities, rmse for regressors), and named by the parent's ``best_run`` tag; the parent
also carries that trial's value of the metric, so ``mloop runs ls`` shows what the sweep reached.

Parallel trials share the machine, so a model that would use every core while fitting
(random_forest's ``n_jobs=-1``) fits each trial on one core unless ``n_jobs`` was chosen.
"""

from __future__ import annotations

import itertools
import math
import time
import traceback
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mloop.errors import InvalidInput, MloopError
from mloop.plural import plural
from mloop.store import Store
from mloop.tracking import runs
from mloop.tracking.environment import capture_environment
from mloop.training.defaults import defaults_for

if TYPE_CHECKING:
    from mloop.artifacts import ArtifactStore
    from mloop.config import Settings
    from mloop.data.datasets import DatasetVersion
    from mloop.executors import Executor, ExecutorSettings

MAX_TRIALS = 1000
# What a trial imports (scikit-learn, skops, the store): the executor's workers import it while
# the sweep reads the data and checks the grid, instead of after the first trial is handed out.
TRIAL_MODULES = (
    "mloop.training.sweep",
    "mloop.training.train",
    "mloop.flavors.sklearn",
    "mloop.workspace",
)
BEST_RUN_TAG = "best_run"
METRIC_TAG = "mloop.sweep.metric"
SOURCE = "mloop train --sweep"


@dataclass(frozen=True)
class TrialTask:
    """What one worker needs to run one trial: sent by value to the process or the Ray task."""

    settings: Settings
    index: int
    parent_run_id: str
    params: dict[str, Any]  # the whole --param set of this trial (fixed and swept)
    swept: dict[str, Any]  # the swept ones alone, for the table
    data: str
    target: str
    model: str | None
    task: str | None
    test_size: float
    seed: int
    experiment: str
    drop: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"trial-{self.index + 1}"


@dataclass(frozen=True)
class Trial:
    index: int
    run_id: str | None
    status: str  # FINISHED or FAILED
    params: dict[str, Any]  # the swept values
    metrics: dict[str, float]
    seconds: float
    error: str | None = None

    def to_dict(self, metric: str) -> dict[str, Any]:
        return {
            "trial": self.index + 1,
            "run": self.run_id,
            "status": self.status,
            "params": self.params,
            "metric": self.metrics.get(metric),
            "metrics": self.metrics,
            "seconds": round(self.seconds, 3),
            "error": self.error,
        }


@dataclass(frozen=True)
class SweepResult:
    run_id: str  # the parent run
    metric: str
    greater_is_better: bool
    best_run_id: str | None
    trials: list[Trial]
    executor: str
    parallelism: int
    seconds: float
    dataset: str
    task: str
    model: str
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> list[Trial]:
        return [trial for trial in self.trials if trial.status != "FINISHED"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run_id,
            "dataset": self.dataset,
            "task": self.task,
            "model": self.model,
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
            "best_run": self.best_run_id,
            "executor": self.executor,
            "parallelism": self.parallelism,
            "seconds": round(self.seconds, 3),
            "params": self.fixed,
            "trials": [trial.to_dict(self.metric) for trial in self.trials],
        }


def expand_grid(axes: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the axes' values, the first axis varying slowest; raises
    ``InvalidInput`` for an empty axis or a grid of more than ``MAX_TRIALS``."""
    for name, values in axes.items():
        if not values:
            raise InvalidInput(f"--sweep {name} has no values; give at least one.")
    size = math.prod(len(values) for values in axes.values())
    if size > MAX_TRIALS:
        raise InvalidInput(
            f"The sweep is {size:,} trials (the product of every --sweep's values); "
            f"at most {MAX_TRIALS:,} run at once, so sweep fewer values."
        )
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def primary_metric(task: str, metrics: Mapping[str, float]) -> str:
    """The metric trials are ranked by (``gates``' ``auto``), f1 for a classifier without
    probabilities."""
    from mloop.scoring.ranking import resolve_metric

    return resolve_metric("auto", task, has_proba=task != "classification" or "roc_auc" in metrics)


def run_trial(job: TrialTask) -> Trial:
    """One trial, in a worker: train as a child run; a failure becomes a FAILED child run."""
    from mloop.training.train import train
    from mloop.workspace import Workspace

    started = time.perf_counter()
    ws = Workspace.from_settings(job.settings)
    try:
        try:
            result = train(
                ws.store,
                ws.artifacts,
                data=job.data,
                target=job.target,
                user=ws.user,
                root=ws.root,
                model=job.model,
                params=job.params,
                test_size=job.test_size,
                seed=job.seed,
                experiment=job.experiment,
                task=job.task,
                drop=job.drop,
                run_name=job.name,
                parent_run_id=job.parent_run_id,
            )
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            run_id = _failed_run(ws.store, job, exc)
            return Trial(
                job.index, run_id, "FAILED", job.swept, {}, time.perf_counter() - started, error
            )
        return Trial(
            job.index,
            result.run_id,
            "FINISHED",
            job.swept,
            dict(result.metrics),
            time.perf_counter() - started,
        )
    finally:
        ws.close()


def _failed_run(store: Store, job: TrialTask, exc: Exception) -> str:
    """The trial's run, ended FAILED by ``train``; or, when it failed before its run existed,
    a FAILED child run recording the error, so every trial has a run to look at."""
    found = [
        r
        for r in runs.list_runs(store, parent=job.parent_run_id, limit=MAX_TRIALS)
        if r.name == job.name
    ]
    if found:
        return found[0].id
    info = runs.create_run(
        store,
        experiment=job.experiment,
        user=job.settings.user,
        environment={},
        name=job.name,
        parent_run_id=job.parent_run_id,
    )
    runs.log_params(store, info.id, job.params)
    tail = "".join(traceback.format_exception(exc)[-3:])
    runs.finish_run(store, info.id, "FAILED", error=f"{type(exc).__name__}: {exc}\n{tail}")
    return info.id


def _check_trials(
    store: Store,
    artifacts: ArtifactStore,
    *,
    settings: Settings,
    data: str,
    target: str,
    model: str | None,
    task: str | None,
    test_size: float,
    drop: Sequence[str],
    seed: int,
    grid: list[dict[str, Any]],
    fixed: Mapping[str, Any],
) -> tuple[str, str, DatasetVersion]:
    """Every combination built before any run: (model, task, dataset version)."""
    from mloop.training.estimators import make_estimator
    from mloop.training.prepare import prepare

    prepared = prepare(
        store,
        artifacts,
        data=data,
        target=target,
        model=model,
        task=task,
        test_size=test_size,
        drop=drop,
        root=settings.root,
        say=lambda _message: None,
    )
    for combo in grid:
        try:
            make_estimator(
                prepared.model,
                prepared.task,
                {**fixed, **combo},
                seed=seed,
                root=settings.root,
            )
        except InvalidInput as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in combo.items())
            raise InvalidInput(f"--sweep trial {shown}: {exc}") from exc
    return prepared.model, prepared.task.value, prepared.version


@dataclass(frozen=True)
class SweepPlan:
    """A sweep checked and ready to run: every combination built, the data version resolved."""

    grid: list[dict[str, Any]]
    axes: dict[str, list[Any]]
    fixed: dict[str, Any]  # the --param set every trial shares
    model: str
    task: str
    # what every trial reads: its id and NAME@V, not the DatasetVersion, whose module (pandas,
    # the schema's pydantic models) the command would import to unpickle a worker's plan
    version_id: str
    dataset: str
    target: str
    test_size: float
    seed: int
    drop: tuple[str, ...]


def plan_sweep(
    store: Store,
    artifacts: ArtifactStore,
    *,
    settings: Settings,
    data: str,
    target: str,
    axes: Mapping[str, Sequence[Any]],
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    task: str | None = None,
    drop: Sequence[str] = (),
) -> SweepPlan:
    """Everything checked before any run: the grid, the data, and every combination built with
    scikit-learn's own check. Raises ``InvalidInput`` and ``NotFound``; records nothing, so a
    worker can run it (``sweep`` does: ``plan_in_worker``)."""
    fixed = dict(params or {})
    clash = sorted(set(fixed) & set(axes))
    if clash:
        raise InvalidInput(f"{clash[0]!r} is given both as --param and --sweep; keep one of them.")
    grid = expand_grid(axes)
    chosen_model, task_name, version = _check_trials(
        store,
        artifacts,
        settings=settings,
        data=data,
        target=target,
        model=model,
        task=task,
        test_size=test_size,
        drop=drop,
        seed=seed,
        grid=grid,
        fixed=fixed,
    )
    return SweepPlan(
        grid=grid,
        axes={name: list(values) for name, values in axes.items()},
        fixed=fixed,
        model=chosen_model,
        task=task_name,
        version_id=version.id,
        dataset=version.ref,
        target=target,
        test_size=test_size,
        seed=seed,
        drop=tuple(drop),
    )


def sweep(
    store: Store,
    artifacts: ArtifactStore,
    executor: Executor | ExecutorSettings,
    *,
    settings: Settings,
    data: str,
    target: str,
    axes: Mapping[str, Sequence[Any]],
    model: str | None = None,
    params: Mapping[str, Any] | None = None,
    test_size: float = 0.2,
    seed: int = 0,
    experiment: str = "default",
    task: str | None = None,
    drop: Sequence[str] = (),
) -> SweepResult:
    """Run the grid of ``axes`` (parameter -> values) as child runs of one parent run, on an
    open ``executor``, or on the one ``ExecutorSettings`` name, opened for the sweep and closed
    after it.

    The plan is checked by a worker, not here: it is the only part of a sweep outside the
    trials that needs scikit-learn and pandas, which the workers import anyway. This process
    then imports neither, and on a machine with as many cores as workers its 2 s of imports no
    longer compete with theirs (a private Ray starts two fresh workers beside it, where the
    process pool forks both from one).

    Raises ``InvalidInput`` (a bad grid, a parameter a trial's model refuses; nothing recorded)
    and ``NotFound`` (the dataset) before any run. The result lists every trial, failed ones
    included; the parent run is FAILED only when every trial failed.
    """
    from mloop.executors import ExecutorSettings, open_executor

    job = PlanTask(
        settings=settings,
        data=data,
        target=target,
        axes={name: list(values) for name, values in axes.items()},
        model=model,
        params=dict(params or {}),
        test_size=test_size,
        seed=seed,
        task=task,
        drop=tuple(drop),
    )
    if not isinstance(executor, ExecutorSettings):
        executor.warm(TRIAL_MODULES)
        checked = _checked(executor.submit(plan_in_worker, job))
        return run_sweep(store, executor, checked, settings=settings, experiment=experiment)
    with open_executor(executor, preload=TRIAL_MODULES) as opened:
        checked = _checked(opened.submit(plan_in_worker, job))
        return run_sweep(store, opened, checked, settings=settings, experiment=experiment)


@dataclass(frozen=True)
class PlanTask:
    """``plan_sweep``'s arguments, sent by value to a worker."""

    settings: Settings
    data: str
    target: str
    axes: dict[str, list[Any]]
    model: str | None
    params: dict[str, Any]
    test_size: float
    seed: int
    task: str | None
    drop: tuple[str, ...]


def plan_in_worker(job: PlanTask) -> SweepPlan | MloopError:
    """``plan_sweep`` in a worker. A refusal is returned rather than raised, so the command
    raises the error itself, without the worker's traceback that Ray wraps a raised one in."""
    from mloop.workspace import Workspace

    ws = Workspace.from_settings(job.settings)
    try:
        return plan_sweep(
            ws.store,
            ws.artifacts,
            settings=job.settings,
            data=job.data,
            target=job.target,
            axes=job.axes,
            model=job.model,
            params=job.params,
            test_size=job.test_size,
            seed=job.seed,
            task=job.task,
            drop=job.drop,
        )
    except MloopError as exc:
        return exc
    finally:
        ws.close()


def _checked(planned: Future[SweepPlan | MloopError]) -> SweepPlan:
    plan = planned.result()
    if isinstance(plan, MloopError):
        raise plan
    return plan


def run_sweep(
    store: Store,
    executor: Executor,
    plan: SweepPlan,
    *,
    settings: Settings,
    experiment: str = "default",
) -> SweepResult:
    """The planned trials on ``executor`` as child runs of a new parent run."""
    from mloop.scoring.ranking import LOWER_IS_BETTER

    fixed = dict(plan.fixed)
    if (
        executor.parallelism > 1
        and "n_jobs" in defaults_for(plan.model)
        and "n_jobs" not in fixed
        and "n_jobs" not in plan.axes
    ):
        fixed["n_jobs"] = 1  # trials side by side, one core each (see the module docstring)
    started = time.perf_counter()
    parent = runs.create_run(
        store,
        experiment=experiment,
        user=settings.user,
        environment=capture_environment(settings.root),
    )
    try:
        runs.log_params(
            store,
            parent.id,
            {
                "model": plan.model,
                "target": plan.target,
                "task": plan.task,
                "test_size": plan.test_size,
                "seed": plan.seed,
                **({"drop": sorted(plan.drop)} if plan.drop else {}),
                **fixed,
                **{f"sweep.{name}": values for name, values in plan.axes.items()},
            },
        )
        runs.set_tags(
            store,
            parent.id,
            {
                "mloop.source": SOURCE,
                "mloop.dataset": plan.dataset,
                "mloop.sweep.trials": str(len(plan.grid)),
                "mloop.executor": executor.kind,
            },
        )
        runs.log_input(store, parent.id, plan.version_id, role="train")
        jobs = [
            TrialTask(
                settings=settings,
                index=index,
                parent_run_id=parent.id,
                params={**fixed, **combo},
                swept=combo,
                data=plan.dataset,
                target=plan.target,
                model=plan.model,
                task=plan.task,
                test_size=plan.test_size,
                seed=plan.seed,
                experiment=experiment,
                drop=plan.drop,
            )
            for index, combo in enumerate(plan.grid)
        ]
        futures = [executor.submit(run_trial, job) for job in jobs]
        trials = [_outcome(job, future) for job, future in zip(jobs, futures, strict=True)]
        metric, best = _best(plan.task, trials)
        if best is None:
            first = trials[0].error or "unknown error"
            raise SweepFailed(
                f"Every one of the {plural(len(trials), 'trial')} failed (first: {first}); "
                f"`mloop runs show {parent.id}` lists them with their errors."
            )
        runs.set_tags(store, parent.id, {BEST_RUN_TAG: best.run_id or "", METRIC_TAG: metric})
        runs.log_metrics_rows(
            store,
            [
                {
                    "run_id": parent.id,
                    "key": metric,
                    "step": 0,
                    "timestamp_ms": int(time.time() * 1000),
                    "value": float(best.metrics[metric]),
                }
            ],
        )
    except BaseException as exc:
        from mloop.tracking.termination import ended_status

        status = ended_status(exc)
        if status == "KILLED":
            executor.stop()
            _end_running_trials(store, parent.id)
        runs.finish_run(store, parent.id, status, error=f"{type(exc).__name__}: {exc}")
        raise
    runs.finish_run(store, parent.id, "FINISHED")
    return SweepResult(
        run_id=parent.id,
        metric=metric,
        greater_is_better=metric not in LOWER_IS_BETTER,
        best_run_id=best.run_id,
        trials=trials,
        executor=executor.kind,
        parallelism=executor.parallelism,
        seconds=time.perf_counter() - started,
        dataset=plan.dataset,
        task=plan.task,
        model=plan.model,
        fixed=fixed,
    )


def _end_running_trials(store: Store, parent_run_id: str) -> None:
    """The trials a stop cut short end KILLED with their parent, not RUNNING for ever (a
    trial that finished meanwhile keeps its result)."""
    for child in runs.list_runs(store, parent=parent_run_id, status="RUNNING", limit=MAX_TRIALS):
        runs.finish_run(store, child.id, "KILLED", error="stopped with its sweep")


class SweepFailed(MloopError):
    """Every trial failed: a check that failed (exit 1), with the parent run FAILED."""

    headline = "sweep failed"
    exit_code = 1


def _outcome(job: TrialTask, future: Future[Trial]) -> Trial:
    """The trial's result; a worker that died (or a task Ray could not run) is a failed trial."""
    try:
        return future.result()
    except Exception as exc:
        return Trial(job.index, None, "FAILED", job.swept, {}, 0.0, f"{type(exc).__name__}: {exc}")


def _best(task: str, trials: list[Trial]) -> tuple[str, Trial | None]:
    from mloop.scoring.ranking import LOWER_IS_BETTER

    finished = [trial for trial in trials if trial.status == "FINISHED"]
    metric = primary_metric(task, finished[0].metrics if finished else {})
    scored = [t for t in finished if metric in t.metrics and not math.isnan(t.metrics[metric])]
    if not scored:
        return metric, None
    lower = metric in LOWER_IS_BETTER
    # ties go to the earlier trial: the grid's order is the user's
    best = min(scored, key=lambda t: (t.metrics[metric] if lower else -t.metrics[metric], t.index))
    return metric, best
