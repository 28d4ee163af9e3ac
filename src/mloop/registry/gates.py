"""Checking a gate: every check re-scores models on the same held-out rows, now.

Numbers logged at training time are not trusted for comparisons: the candidate and the current
holder are both scored on one holdout (the candidate run's held-out split, or ``--holdout NAME@V``),
so a model cannot win by having been evaluated on an easier split. With ``bootstrap = N`` the
no-regression check also needs the lower end of a paired bootstrap confidence interval of the
difference to clear the tolerance, so a lucky split does not win either.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mloop.artifacts import ArtifactStore
from mloop.data.datasets import current_schema
from mloop.data.validation import validate_frame
from mloop.errors import InvalidInput
from mloop.plural import plural
from mloop.registry.bootstrap import paired_bootstrap
from mloop.registry.gate_config import Gate, NoRegression
from mloop.registry.holdout import Holdout
from mloop.registry.loading import LoadedModel, load_version
from mloop.registry.versions import ModelVersion
from mloop.scoring.metrics import (
    classes_without_rows,
    classification_metrics,
    regression_metrics,
)
from mloop.scoring.ranking import LOWER_IS_BETTER, resolve_metric
from mloop.scoring.targets import Task, labelled, target_values
from mloop.store import Store
from mloop.tracking.runs import get_run

LATENCY_SAMPLES = 200
LATENCY_WARMUP = 10


@dataclass(frozen=True)
class CheckResult:
    check: str
    name: str
    passed: bool
    detail: str
    values: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # verdicts are stored as JSON, which has no NaN (PostgreSQL refuses it): undefined is null
        object.__setattr__(self, "values", _json_numbers(self.values))


def _json_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _json_numbers(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


@dataclass(frozen=True)
class Scored:
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    classes: np.ndarray | None
    task: str

    def metrics(self, rows: np.ndarray | None = None) -> dict[str, float]:
        pick: Callable[[Any], Any] = (
            (lambda a: a) if rows is None else (lambda a: None if a is None else a[rows])
        )
        if self.task == "regression":
            return regression_metrics(pick(self.y_true), pick(self.y_pred))
        classes = self.classes if self.classes is not None else np.unique(self.y_true)
        return classification_metrics(
            pick(self.y_true), pick(self.y_pred), pick(self.proba), classes
        )


def score(model: LoadedModel, holdout: Holdout) -> Scored:
    signature = model.version.signature
    target, task = signature.target, signature.task
    if not target or task is None:
        raise InvalidInput(
            f"{model.version.ref} records no target column, so it cannot be re-scored; log it with "
            "run.log_model(model, name=..., target=COLUMN) or train it with `mloop train`."
        )
    if target not in holdout.frame.columns:
        raise InvalidInput(
            f"The holdout ({holdout.source}) has no target column {target!r} for {model.version.ref}."
        )
    frame = holdout.frame[labelled(holdout.frame[target])]
    y_true = target_values(frame[target], str(signature.target_type or ""), task, signature.classes)
    y_pred = np.asarray(model.predict(frame))
    if task == "regression":
        return Scored(y_true, y_pred, None, None, task)
    proba = model.predict_proba(frame)
    classes = np.asarray(signature.classes or np.unique(y_true))
    if classes.dtype != y_true.dtype:
        classes = classes.astype(y_true.dtype)
    return Scored(y_true, y_pred, None if proba is None else np.asarray(proba), classes, task)


def undefined_on_holdout(cand: Scored, metrics: dict[str, float]) -> dict[str, str]:
    """Metrics the candidate has but these rows cannot score, with why: the roc_auc of several
    classes needs a row of each, and a rare class can miss a holdout entirely."""
    if cand.task != "classification" or cand.proba is None or cand.classes is None:
        return {}
    absent = [str(c) for c in classes_without_rows(cand.classes, cand.y_true)]
    if "roc_auc" in metrics or len(np.unique(cand.y_true)) < 2 or not absent:
        return {}
    names = ", ".join(repr(c) for c in absent)
    return {"roc_auc": f"no row of the class{'es' if len(absent) > 1 else ''} {names}"}


def _threshold_checks(
    gate: Gate, candidate: ModelVersion, cand: Scored, fresh: dict[str, float]
) -> list[CheckResult]:
    results = []
    undefined = undefined_on_holdout(cand, fresh)
    for threshold in gate.thresholds_for(cand.task):
        if threshold.metric in undefined:
            fresh = {**fresh, threshold.metric: float("nan")}
        if threshold.metric not in candidate.metrics and threshold.metric not in fresh:
            logged = ", ".join(sorted(candidate.metrics)) or "none"
            hint = (
                ""
                if gate.task_thresholds
                else " (thresholds = { classification = [...], regression = [...] } sets them per task)"
            )
            raise InvalidInput(
                f"Gate {gate.name!r} checks {threshold.metric!r}, which {candidate.ref} never "
                f"logged; it has: {logged}{hint}."
            )
        observed = fresh.get(
            threshold.metric, candidate.metrics.get(threshold.metric, float("nan"))
        )
        source = "holdout" if threshold.metric in fresh else "logged"
        passed = bool(threshold.holds(observed))
        detail = f"{threshold.metric} = {observed:.4g} ({source})"
        if math.isnan(observed):
            detail += "; undefined on these rows, so it cannot show the threshold is met"
            if threshold.metric in undefined:
                detail += f" (they have {undefined[threshold.metric]})"
        results.append(
            CheckResult(
                "threshold",
                str(threshold),
                passed,
                detail,
                {
                    "metric": threshold.metric,
                    "observed": observed,
                    "op": threshold.op,
                    "value": threshold.value,
                },
            )
        )
    return results


def holdout_size_check(minimum: int, holdout: Holdout, target: str) -> CheckResult:
    rows = int(labelled(holdout.frame[target]).sum()) if target in holdout.frame else 0
    passed = rows >= minimum
    detail = f"{rows} labelled holdout rows (at least {minimum})"
    if not passed:
        detail = (
            f"only {rows} labelled holdout row{'' if rows == 1 else 's'}, fewer than the gate's "
            f"min_holdout_rows = {minimum}, so its metrics are noise: train on more data or with "
            "a larger --test-size, or pass --holdout NAME@V with more labelled rows"
        )
    return CheckResult(
        "holdout_size",
        f"holdout rows >= {minimum}",
        passed,
        detail,
        {"rows": rows, "min_rows": minimum},
    )


def _no_regression_check(
    gate: Gate,
    policy: NoRegression,
    cand: Scored,
    cand_metrics: dict[str, float],
    incumbent: LoadedModel | None,
    holdout: Holdout,
) -> CheckResult:
    metric = resolve_metric(policy.metric, cand.task, has_proba=cand.proba is not None)
    why = ""  # why ``auto`` compares another metric than it names
    if metric not in cand_metrics:
        classes = np.unique(cand.y_true) if cand.task == "classification" else None
        if classes is not None and cand.proba is not None and len(classes) < 2:
            raise InvalidInput(
                f"Gate {gate.name!r} compares {metric!r}, which is undefined on this holdout: its "
                f"{plural(len(cand.y_true), 'labelled row')} ({holdout.description}) hold "
                f"{'no class' if not len(classes) else f'only the class {classes[0]!r}'}; pass "
                "--holdout NAME@V with rows of every class."
            )
        missing = undefined_on_holdout(cand, cand_metrics).get(metric)
        if missing:
            # a rare class can miss the holdout, which says nothing about either model, so
            # ``auto`` compares f1 instead
            if policy.metric == "auto":
                metric = resolve_metric("auto", cand.task, has_proba=False)
                why = f" (roc_auc is undefined: the holdout has {missing})"
            else:
                raise InvalidInput(
                    f"Gate {gate.name!r} compares 'roc_auc', which is undefined on this holdout: "
                    f"its {plural(len(cand.y_true), 'labelled row')} ({holdout.description}) "
                    f"have {missing}; pass --holdout NAME@V with rows of every class, or "
                    'compare another metric (metric = "f1").'
                )
    if metric not in cand_metrics:
        raise InvalidInput(
            f"Gate {gate.name!r} compares {metric!r}, which cannot be computed for a {cand.task} model; "
            f"available: {', '.join(sorted(cand_metrics))}."
        )
    if incumbent is None:
        return CheckResult(
            "no_regression",
            metric,
            True,
            f"no current holder: nothing to regress against{why}",
            {"metric": metric},
        )
    inc = score(incumbent, holdout)
    if inc.task != cand.task:
        raise InvalidInput(
            f"{incumbent.version.ref} is a {inc.task} model and the candidate a {cand.task} one; "
            "they cannot be compared: register the candidate under another name."
        )
    inc_metrics = inc.metrics()
    if metric not in inc_metrics and policy.metric == "auto":
        metric = resolve_metric("auto", cand.task, has_proba=False)
    if metric not in inc_metrics:
        raise InvalidInput(
            f"Gate {gate.name!r} compares {metric!r}, which {incumbent.version.ref} cannot produce; "
            f"it has: {', '.join(sorted(inc_metrics))}."
        )
    lower_better = metric in LOWER_IS_BETTER
    sign = -1.0 if lower_better else 1.0
    gain = sign * (cand_metrics[metric] - inc_metrics[metric])
    values: dict[str, Any] = {
        "metric": metric,
        "candidate": cand_metrics[metric],
        "incumbent": inc_metrics[metric],
        "incumbent_version": incumbent.version.version,
        "gain": gain,
        "tolerance": policy.tolerance,
        "rows": len(cand.y_true),
    }
    passed = gain >= -policy.tolerance
    detail = (
        f"{metric} {cand_metrics[metric]:.4g} vs {incumbent.version.ref} {inc_metrics[metric]:.4g} "
        f"(gain {gain:+.4g}, tolerance {policy.tolerance:g}){why}"
    )
    if policy.bootstrap > 0 and len(cand.y_true) == len(inc.y_true):
        low, high = paired_bootstrap(cand, inc, metric, policy.bootstrap, policy.confidence)
        low, high = sorted((sign * low, sign * high))
        values.update(
            {
                "ci_low": low,
                "ci_high": high,
                "bootstrap": policy.bootstrap,
                "confidence": policy.confidence,
            }
        )
        detail += f"; {policy.confidence:.0%} CI of gain [{low:+.4g}, {high:+.4g}]"
        if np.isnan(low):
            passed = False
            detail += ": undefined on every resample"
        elif high < -policy.tolerance:  # worse than the tolerance, beyond noise
            passed = False
            detail += ": a regression beyond noise"
        elif low < -policy.tolerance:  # the interval straddles -tolerance: the rows cannot tell
            passed = policy.on_noise == "pass"
            detail += f": within noise (on_noise = {policy.on_noise})"
        # else the whole interval clears -tolerance and the point estimate decides, as without it
        values["on_noise"] = policy.on_noise
    return CheckResult("no_regression", metric, bool(passed), detail, values)


def _latency_check(budget_ms: float, model: LoadedModel, holdout: Holdout) -> CheckResult:
    frame = holdout.frame
    rows = [frame.iloc[[i % len(frame)]] for i in range(LATENCY_SAMPLES + LATENCY_WARMUP)]
    predict = (
        model.predict_proba
        if model.version.signature.task == Task.CLASSIFICATION
        else model.predict
    )
    timings = []
    for i, row in enumerate(rows):
        start = time.perf_counter()
        predict(row)
        if i >= LATENCY_WARMUP:
            timings.append((time.perf_counter() - start) * 1000)
    p50, p99 = np.percentile(timings, [50, 99])
    return CheckResult(
        "latency",
        f"p99 <= {budget_ms:g} ms",
        bool(p99 <= budget_ms),
        f"single-row p99 {p99:.2f} ms (p50 {p50:.2f} ms, {LATENCY_SAMPLES} calls)",
        {"p50_ms": float(p50), "p99_ms": float(p99), "budget_ms": budget_ms},
    )


def _segment_checks(gate: Gate, cand: Scored, holdout: Holdout, target: str) -> list[CheckResult]:
    frame = holdout.frame[labelled(holdout.frame[target])].reset_index(drop=True)
    results = []
    overall = cand.metrics()
    for parity in gate.segment_parity:
        if parity.column not in frame.columns:
            raise InvalidInput(
                f"Gate {gate.name!r} checks parity across {parity.column!r}, which the holdout ({holdout.source}) lacks."
            )
        if parity.metric not in overall:
            raise InvalidInput(
                f"Gate {gate.name!r}: segment metric {parity.metric!r} cannot be computed for a "
                f"{cand.task} model; use one of {', '.join(sorted(overall))}."
            )
        segments: dict[str, float] = {}
        skipped: dict[str, int] = {}
        undefined: list[str] = []  # e.g. roc_auc of a segment whose rows are all one class
        keys = (
            frame[parity.column]
            .astype(object)
            .where(frame[parity.column].notna(), "(missing)")
            .astype(str)
        )
        for value, index in keys.groupby(keys).groups.items():
            rows = np.asarray(index)
            if len(rows) < parity.min_rows:
                skipped[str(value)] = len(rows)
                continue
            observed = cand.metrics(rows).get(parity.metric, float("nan"))
            if np.isfinite(observed):
                segments[str(value)] = observed
            else:
                undefined.append(str(value))
        gap = (max(segments.values()) - min(segments.values())) if len(segments) >= 2 else 0.0
        comparable = len(segments) >= 2 or (len(segments) == 1 and not skipped and not undefined)
        detail = f"gap {gap:.3f}: " + ", ".join(f"{k}={v:.3f}" for k, v in sorted(segments.items()))
        if not comparable:  # a check that compared nothing has not shown parity
            detail = f"fewer than two segments of {parity.column} could be compared"
            if skipped:
                detail += (
                    f"; under {parity.min_rows} holdout rows: "
                    f"{', '.join(f'{k}: {n}' for k, n in sorted(skipped.items()))}"
                )
        if undefined:
            detail += f"; {parity.metric} is undefined in: {', '.join(sorted(undefined))}"
        if not comparable:
            detail += "; lower min_rows, choose another metric or score on a larger --holdout"
        results.append(
            CheckResult(
                "segment_parity",
                f"{parity.metric} gap across {parity.column} <= {parity.max_gap:g}",
                bool(comparable and gap <= parity.max_gap),
                detail,
                {
                    "gap": gap,
                    "segments": segments,
                    "skipped_small_segments": skipped,
                    "undefined_segments": sorted(undefined),
                    "max_gap": parity.max_gap,
                },
            )
        )
    return results


def _validation_check(
    store: Store, candidate: ModelVersion, holdout: Holdout, root: Any
) -> CheckResult:
    """The holdout against the rules in force when the candidate was trained (its signature).

    A model logged from Python without a dataset has no rules in its signature; the current
    schema of the dataset its run trained on stands in, as before signatures carried rules.
    """
    signature = candidate.signature
    if signature.has_rules:
        schema = signature.rules()
        source = (
            f"{signature.dataset} schema revision {signature.schema_revision}"
            if signature.schema_revision is not None
            else "the model's signature"
        )
    else:
        trained_on = (
            [i.dataset_ref for i in get_run(store, candidate.run_id).inputs if i.role == "train"]
            if candidate.run_id
            else []
        )
        dataset_ref = next((ref for ref in trained_on if ref), "")
        if not dataset_ref:
            return CheckResult(
                "data_validation",
                "holdout matches schema",
                False,
                "the model records no training dataset and its signature no rules",
            )
        schema = current_schema(store, dataset_ref.split("@", 1)[0])
        source = f"the current schema of {dataset_ref.split('@', 1)[0]}"
    report = validate_frame(schema, holdout.frame, root=root)
    summary = "; ".join(f"{v.column}: {v.rule} ({v.count})" for v in report.violations[:5])
    return CheckResult(
        "data_validation",
        "holdout matches schema",
        report.ok,
        f"{plural(report.rows_checked, 'row')} valid against {source}"
        if report.ok
        else f"{plural(len(report.violations), 'violation')} against {source}: {summary}",
        {
            "violations": len(report.violations),
            "rows": report.rows_checked,
            "schema_revision": signature.schema_revision,
        },
    )


def approval_check(approvals: list[Any]) -> CheckResult:
    if approvals:
        who = ", ".join(sorted({a.approver for a in approvals}))
        return CheckResult(
            "approval", "human approval", True, f"approved by {who}", {"approvers": who}
        )
    return CheckResult(
        "approval",
        "human approval",
        False,
        "not approved yet: run `mloop models approve NAME N --note …`",
    )


def evaluate_gate(
    store: Store,
    artifacts: ArtifactStore,
    gate: Gate,
    *,
    candidate: ModelVersion,
    incumbent: ModelVersion | None,
    holdout: Holdout | None,
    approvals: list[Any],
    root: Any = None,
) -> list[CheckResult]:
    """Run every check the gate declares; raises ``InvalidInput`` for a gate that cannot apply."""
    results: list[CheckResult] = []
    if gate.approval:
        results.append(approval_check(approvals))
    if not gate.needs_holdout:
        return results
    if holdout is None:
        raise InvalidInput(f"Gate {gate.name!r} needs held-out data; pass --holdout NAME@V.")
    loaded = load_version(artifacts, candidate)
    if gate.min_holdout_rows is not None:
        target = str(candidate.signature.target or "")
        results.append(holdout_size_check(gate.min_holdout_rows, holdout, target))
    task = str(candidate.signature.task or "")
    if gate.thresholds_for(task) or gate.no_regression or gate.segment_parity:
        cand = score(loaded, holdout)
        fresh = cand.metrics()
        results += _threshold_checks(gate, candidate, cand, fresh)
        if gate.no_regression:
            broken = None if incumbent is None else artifacts.verify(incumbent.artifact_hash)
            if incumbent is not None and broken is not None:
                # The holder cannot be re-scored, so nothing shows the candidate is no worse;
                # replacing a corrupt holder is still possible, on the record, with --force.
                results.append(
                    CheckResult(
                        "no_regression",
                        resolve_metric(
                            gate.no_regression.metric, cand.task, has_proba=cand.proba is not None
                        ),
                        False,
                        f"{incumbent.ref}, the current holder, fails its hash check ({broken.problem}) "
                        "and cannot be re-scored: restore it from a backup, or replace it with --force --reason",
                        {"incumbent_version": incumbent.version, "problem": broken.problem},
                    )
                )
            else:
                other = None if incumbent is None else load_version(artifacts, incumbent)
                results.append(
                    _no_regression_check(gate, gate.no_regression, cand, fresh, other, holdout)
                )
        if gate.segment_parity:
            results += _segment_checks(gate, cand, holdout, str(candidate.signature.target))
    if gate.latency_p99_ms is not None:
        results.append(_latency_check(gate.latency_p99_ms, loaded, holdout))
    if gate.data_validation:
        results.append(_validation_check(store, candidate, holdout, root))
    return results
