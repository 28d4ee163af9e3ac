"""``mloop train``'s classification metrics on class codes, fast enough for million-row windows.

``scoring.metrics.classification_metrics`` takes labels of any type; on a window of half a million
text labels scikit-learn sorts them some thirty times (``np.unique`` per metric) and takes ~25 s.
Here labels arrive as integer codes (``0..k-1`` for the model's classes in its order, ``k`` and up
for labels the model does not know, one code each) and the confusion counts come from one
``np.bincount``, so the definitions are the same, and checked equal by a test:

- accuracy: share of rows where code equals predicted code;
- binary (k = 2): precision, recall and f1 of the positive class (code 1), 0 where undefined
  (``zero_division=0``);
- multiclass: the same per label, macro-averaged over the labels present in truth or prediction
  (scikit-learn's ``average="macro"``);
- roc_auc and log_loss: scikit-learn's definitions (``roc_auc_score``, one-vs-rest macro for
  multiclass; ``log_loss`` on row-normalised, eps-clipped probabilities) on the rows whose label
  the model knows, computed here in numpy: importing scikit-learn costs a monitor run over a
  second before it reads a row.
"""

from __future__ import annotations

import numpy as np


def _safe(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.divide(top, bottom, out=np.zeros(len(top)), where=bottom > 0)
    return out


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks with ties sharing their mean rank (``scipy.stats.rankdata``'s default)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    counts = np.diff(np.r_[starts, len(values)])
    mean_rank = starts + (counts + 1) / 2.0
    ranks = np.empty(len(values))
    ranks[order] = np.repeat(mean_rank, counts)
    return ranks


def binary_roc_auc(positive: np.ndarray, score: np.ndarray) -> float:
    """Area under the ROC curve as the Mann–Whitney U statistic; ties count one half, as the
    trapezoids of ``sklearn.metrics.roc_auc_score`` do."""
    positive = np.asarray(positive, dtype=bool)
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(np.asarray(score, dtype=float))
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _log_loss(y: np.ndarray, proba: np.ndarray) -> float:
    proba = np.asarray(proba, dtype=float)
    proba = proba / proba.sum(axis=1, keepdims=True)
    eps = np.finfo(proba.dtype).eps
    picked = np.clip(proba[np.arange(len(y)), y], eps, 1 - eps)
    return float(-np.mean(np.log(picked)))


def coded_classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, k: int
) -> dict[str, float]:
    """Metrics of integer-coded labels and predictions for a model with ``k`` classes."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    m = int(max(y_true.max(initial=0), y_pred.max(initial=0), k - 1)) + 1
    counts = np.bincount(y_true * m + y_pred, minlength=m * m).reshape(m, m).astype(float)
    tp = np.diag(counts)
    truth = counts.sum(axis=1)
    said = counts.sum(axis=0)
    precision = _safe(tp, said)
    recall = _safe(tp, truth)
    f1 = _safe(2 * tp, truth + said)
    pick = [1] if k == 2 else list(np.flatnonzero((truth + said) > 0))
    result = {
        "accuracy": float(tp.sum() / len(y_true)) if len(y_true) else 0.0,
        "precision": float(np.mean(precision[pick])),
        "recall": float(np.mean(recall[pick])),
        "f1": float(np.mean(f1[pick])),
    }
    known = y_true < k
    if proba is not None and len(np.unique(y_true[known])) > 1:
        y_known, p_known = y_true[known], proba[known]
        if k == 2:
            result["roc_auc"] = binary_roc_auc(y_known == 1, p_known[:, 1])
        elif len(np.unique(y_known)) == k:
            # one-vs-rest, macro-averaged (scikit-learn requires rows that sum to 1)
            normalised = p_known / p_known.sum(axis=1, keepdims=True)
            result["roc_auc"] = float(
                np.mean([binary_roc_auc(y_known == c, normalised[:, c]) for c in range(k)])
            )
        result["log_loss"] = _log_loss(y_known, p_known)
    return result
