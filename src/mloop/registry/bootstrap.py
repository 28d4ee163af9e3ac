"""The paired bootstrap behind ``no_regression``, computed for every resample at once.

A resample of ``n`` held-out rows is a vector of counts (how often each row was drawn; Poisson(1)
per row); all of a metric's sums are then one matrix product of those counts with per-row values,
so a thousand resamples of 200,000 rows cost a few matrix products per chunk of resamples instead
of two thousand scikit-learn calls.
roc_auc is the weighted Mann-Whitney statistic: rows are sorted by score once, and each resample's
count of negatives below every tie group is a cumulative sum along that fixed order.

Both models are scored on the same resamples (paired), so the interval is of their difference and
the noise they share cancels. Metrics match scikit-learn's on any one resample (the tests check it),
including its edge cases: labels absent from a resample are left out of macro averages, an
undefined roc_auc is NaN and ignored by the interval's quantiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Protocol

import numpy as np

# resamples are processed in chunks of about this many cells (8 MiB of float64 each)
CHUNK_CELLS = 1 << 20
POISSON_MAX = 30  # P(count > 30) is below 1e-32
PROBABILITY_METRICS = {"roc_auc", "log_loss"}


class Outputs(Protocol):
    """What a model produced on the holdout: labels, predictions, probabilities, its classes."""

    @property
    def y_true(self) -> np.ndarray: ...
    @property
    def y_pred(self) -> np.ndarray: ...
    @property
    def proba(self) -> np.ndarray | None: ...
    @property
    def classes(self) -> np.ndarray | None: ...


def _poisson_table() -> np.ndarray:
    """Poisson(1) by inverse CDF at 16-bit resolution: ``table[u]`` for a uniform ``u < 2**16``."""
    cdf = np.cumsum([math.exp(-1) / math.factorial(k) for k in range(POISSON_MAX + 1)])
    return np.searchsorted(cdf, (np.arange(1 << 16) + 0.5) / (1 << 16)).astype(np.uint8)


def resample_counts(n: int, samples: int, seed: int = 0) -> Iterator[np.ndarray]:
    """Chunks of a ``samples × n`` matrix: row ``b`` says how often resample ``b`` drew each row.

    A Poisson bootstrap: each row's count is an independent Poisson(1) draw, which matches the
    classic bootstrap (``n`` draws with replacement) closely for any holdout a gate should trust
    and costs one table lookup per cell instead of a draw and a ``bincount``.
    """
    rng = np.random.default_rng(seed)
    table = _poisson_table()
    per_chunk = max(1, CHUNK_CELLS // max(n, 1))
    for start in range(0, samples, per_chunk):
        size = min(per_chunk, samples - start)
        uniform = rng.integers(0, 1 << 16, (size, n), dtype=np.uint16)
        yield table[uniform].astype(np.float64)


PerResample = Callable[[np.ndarray], np.ndarray]


def metric_per_resample(name: str, outputs: Outputs) -> PerResample:
    """A function of a counts chunk giving ``name`` on each of its resamples (NaN: undefined).

    What does not depend on the resample (errors, indicators, the order of scores) is computed
    here, once, not once per chunk.
    """
    if outputs.classes is None:
        return _regression(name, outputs.y_true, outputs.y_pred)
    return _classification(name, outputs)


def paired_bootstrap(
    candidate: Outputs,
    incumbent: Outputs,
    metric: str,
    samples: int,
    confidence: float,
    seed: int = 0,
) -> tuple[float, float]:
    """The ``confidence`` interval of ``metric(candidate) - metric(incumbent)`` over resamples."""
    of_candidate = metric_per_resample(metric, candidate)
    of_incumbent = metric_per_resample(metric, incumbent)
    with np.errstate(divide="ignore", invalid="ignore"):
        differences = np.concatenate(
            [
                of_candidate(counts) - of_incumbent(counts)
                for counts in resample_counts(len(candidate.y_true), samples, seed)
            ]
        )
    if np.isnan(differences).all():
        return float("nan"), float("nan")
    tail = (1 - confidence) / 2
    low, high = np.nanquantile(differences, [tail, 1 - tail])
    return float(low), float(high)


def _ratio(numerator: np.ndarray, denominator: np.ndarray, *, empty: float = 0.0) -> np.ndarray:
    """``numerator / denominator`` with ``empty`` where the denominator is 0 (zero_division)."""
    safe = np.where(denominator == 0, 1.0, denominator)
    return np.where(denominator == 0, empty, numerator / safe)


def _regression(name: str, y_true: np.ndarray, y_pred: np.ndarray) -> PerResample:
    truth = np.asarray(y_true, dtype=np.float64)
    error = np.asarray(y_pred, dtype=np.float64) - truth
    squared = error * error
    if name == "mae":
        absolute = np.abs(error)
        return lambda counts: counts @ absolute / counts.sum(axis=1)
    if name == "rmse":
        return lambda counts: np.sqrt(counts @ squared / counts.sum(axis=1))
    if name != "r2":
        raise ValueError(f"unknown regression metric {name!r}")
    centred = truth - truth.mean() if len(truth) else truth  # no cancellation in the spread
    centred_squared = centred * centred

    def r2(counts: np.ndarray) -> np.ndarray:
        if len(truth) < 2:
            return np.full(len(counts), np.nan)
        total = counts.sum(axis=1)
        residual = counts @ squared
        spread = np.maximum(counts @ centred_squared - _ratio((counts @ centred) ** 2, total), 0.0)
        # scikit-learn: a constant target scores 1 if predicted exactly, else 0
        constant = spread <= 1e-12 * np.maximum(counts @ (truth * truth), 1e-300)
        return np.where(constant, np.where(residual == 0, 1.0, 0.0), 1 - _ratio(residual, spread))

    return r2


def _classification(name: str, outputs: Outputs) -> PerResample:
    y_true, y_pred, classes = outputs.y_true, outputs.y_pred, outputs.classes
    if classes is None:  # a classifier's scores always carry them (gates.score)
        raise ValueError(f"{name} of a classifier needs its classes; none were given")
    if name == "accuracy":
        correct = (y_true == y_pred).astype(np.float64)
        return lambda counts: counts @ correct / counts.sum(axis=1)
    if name in {"precision", "recall", "f1"}:
        return _precision_recall_f1(name, y_true, y_pred, classes)
    if name in PROBABILITY_METRICS:
        return _probability_metric(name, outputs)
    raise ValueError(f"unknown classification metric {name!r}")


def _precision_recall_f1(
    name: str, y_true: np.ndarray, y_pred: np.ndarray, classes: np.ndarray
) -> PerResample:
    binary = len(classes) == 2
    # binary: the second class is the positive one; macro: every label in truth or predictions,
    # averaged over those present in the resample
    labels = np.asarray(classes[1:]) if binary else np.unique(np.concatenate([y_true, y_pred]))
    is_true = (y_true[:, None] == labels[None, :]).astype(np.float64)
    is_pred = (y_pred[:, None] == labels[None, :]).astype(np.float64)
    both = is_true * is_pred

    def per_resample(counts: np.ndarray) -> np.ndarray:
        true_positive, actual, predicted = counts @ both, counts @ is_true, counts @ is_pred
        if name == "precision":
            per_label = _ratio(true_positive, predicted)
        elif name == "recall":
            per_label = _ratio(true_positive, actual)
        else:
            per_label = _ratio(2 * true_positive, actual + predicted)
        if binary:
            return per_label[:, 0]
        present = (actual + predicted) > 0
        return _ratio((per_label * present).sum(axis=1), present.sum(axis=1), empty=np.nan)

    return per_resample


def _probability_metric(name: str, outputs: Outputs) -> PerResample:
    """roc_auc and log_loss, on the rows whose class the model knows; NaN with one class left."""
    classes = outputs.classes
    if classes is None:
        raise ValueError(f"{name} of a classifier needs its classes; none were given")
    if outputs.proba is None:
        return lambda counts: np.full(len(counts), np.nan)
    known = np.isin(outputs.y_true, classes)
    every_row = bool(known.all())
    proba = outputs.proba[known]
    by_value = np.argsort(classes)
    column = by_value[np.searchsorted(classes, outputs.y_true[known], sorter=by_value)]
    is_class = (column[:, None] == np.arange(len(classes))[None, :]).astype(np.float64)
    needed = 2 if name == "log_loss" or len(classes) == 2 else len(classes)

    def enough_classes(counts: np.ndarray) -> np.ndarray:
        present: np.ndarray = (counts @ is_class > 0).sum(axis=1)
        return present >= needed

    if name == "log_loss":
        eps = np.finfo(proba.dtype if proba.dtype.kind == "f" else np.float64).eps
        chosen = proba[np.arange(len(column)), column].astype(np.float64)
        surprise = -np.log(np.clip(chosen, eps, 1 - eps))

        def log_loss(counts: np.ndarray) -> np.ndarray:
            counts = counts if every_row else counts[:, known]
            loss = counts @ surprise / counts.sum(axis=1)
            return np.where(enough_classes(counts), loss, np.nan)

        return log_loss
    # binary: the second class against the first; else one-vs-rest, macro-averaged
    ranked = [1] if len(classes) == 2 else range(len(classes))
    aucs = [_weighted_auc(column == k, proba[:, k]) for k in ranked]

    def roc_auc(counts: np.ndarray) -> np.ndarray:
        counts = counts if every_row else counts[:, known]
        auc = np.mean([one(counts) for one in aucs], axis=0)
        return np.where(enough_classes(counts), auc, np.nan)

    return roc_auc


def _weighted_auc(positive: np.ndarray, score: np.ndarray) -> PerResample:
    """Mann-Whitney AUC per resample: P(score_pos > score_neg) + ½ P(tie), rows weighted by counts.

    Rows are sorted by score once; within a resample the weight of negatives below each tie group
    is a cumulative sum along that fixed order, so a resample costs O(n) instead of a sort.
    """
    order = np.argsort(score, kind="stable")
    ranked = score[order]
    is_positive = positive[order].astype(np.float64)
    new_group = np.r_[True, ranked[1:] != ranked[:-1]] if len(ranked) else np.ones(0, bool)
    starts = None if new_group.all() else np.flatnonzero(new_group)

    def auc(counts: np.ndarray) -> np.ndarray:
        weights = np.take(counts, order, axis=1)
        pos = weights * is_positive
        neg = weights - pos
        if starts is not None:  # ties: one weight per distinct score
            pos, neg = np.add.reduceat(pos, starts, axis=1), np.add.reduceat(neg, starts, axis=1)
        below = np.cumsum(neg, axis=1)
        below -= neg
        wins = np.einsum("ij,ij->i", pos, below) + 0.5 * np.einsum("ij,ij->i", pos, neg)
        return _ratio(wins, pos.sum(axis=1) * neg.sum(axis=1), empty=np.nan)

    return auc
