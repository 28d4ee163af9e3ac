"""Confidence-based performance estimation (CBPE, as NannyML defines it): expected classification
metrics of a window from calibrated probabilities, before any label arrives.

With a calibrated probability ``p`` that a row is positive and the model's predicted label ``ŷ``,
the expected confusion matrix of ``n`` rows is

    TP = Σ p·[ŷ=1]    FP = Σ (1-p)·[ŷ=1]    FN = Σ p·[ŷ=0]    TN = Σ (1-p)·[ŷ=0]

and accuracy = (TP+TN)/n, precision = TP/(TP+FP), recall = TP/(TP+FN), f1 = 2TP/(2TP+FP+FN)
(0 where a denominator is 0, as ``mloop train``'s ``zero_division=0``). ROC AUC: the rows ranked by
the model's own score, the expected true- and false-positive rates at each distinct score,
``TPR = cumsum(p)/Σp`` and ``FPR = cumsum(1-p)/Σ(1-p)``, integrated by the trapezoid rule (ranking
by the calibrated ``p`` instead, as NannyML does, gives the same curve: isotonic calibration only
ties neighbours, and tied rows share one ``p``).

Multiclass: each class is calibrated one-vs-rest and the calibrated rows are normalised to sum to
1; precision, recall, f1 and ROC AUC are the binary estimates of each class against the rest,
macro-averaged over the model's classes; accuracy is the mean calibrated probability of the
predicted class.
"""

from __future__ import annotations

import numpy as np

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def _ratio(top: float, bottom: float) -> float:
    return float(top / bottom) if bottom > 0 else 0.0


def expected_auc(p: np.ndarray, score: np.ndarray, order: np.ndarray | None = None) -> float | None:
    """Expected ROC AUC of ranking by ``score`` when row i is positive with probability ``p[i]``.

    ``order``: ``argsort(-score, kind="stable")`` if the caller has it already (a segment's
    ranking is its rows' subsequence of the whole window's, so one sort serves them all)."""
    positives = float(p.sum())
    negatives = float((1.0 - p).sum())
    if positives <= 0 or negatives <= 0:
        return None
    if order is None:
        order = np.argsort(-score, kind="stable")
    ranked, p_ranked = score[order], p[order]
    tp = np.cumsum(p_ranked)
    fp = np.cumsum(1.0 - p_ranked)
    last = np.r_[ranked[1:] != ranked[:-1], True]  # the curve's points: after each distinct score
    tpr = np.r_[0.0, tp[last] / positives]
    fpr = np.r_[0.0, fp[last] / negatives]
    return float(np.trapezoid(tpr, fpr))


def binary_estimates(
    p: np.ndarray, predicted: np.ndarray, score: np.ndarray, order: np.ndarray | None = None
) -> dict[str, float]:
    """``p``: calibrated P(positive); ``predicted``: the model said positive; ``score``: its raw score."""
    n = len(p)
    if n == 0:
        return {}
    yes = predicted.astype(bool)
    tp = float(p[yes].sum())
    fp = float((1.0 - p[yes]).sum())
    fn = float(p[~yes].sum())
    tn = float((1.0 - p[~yes]).sum())
    result = {
        "accuracy": (tp + tn) / n,
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "f1": _ratio(2 * tp, 2 * tp + fp + fn),
    }
    auc = expected_auc(p, score, order)
    if auc is not None:
        result["roc_auc"] = auc
    return result


def estimates(
    calibrated: np.ndarray,
    raw: np.ndarray,
    predicted: np.ndarray,
    order: np.ndarray | None = None,
) -> dict[str, float]:
    """Expected metrics of a window: ``calibrated`` and ``raw`` are n×k probabilities in the
    model's class order, ``predicted`` the index of each row's predicted class (-1: none of them)."""
    n, k = calibrated.shape
    if n == 0:
        return {}
    if k == 2:
        return binary_estimates(calibrated[:, 1], predicted == 1, raw[:, 1], order)
    per_class = [binary_estimates(calibrated[:, c], predicted == c, raw[:, c]) for c in range(k)]
    result = {
        name: float(np.mean([m[name] for m in per_class])) for name in ("precision", "recall", "f1")
    }
    aucs = [m["roc_auc"] for m in per_class if "roc_auc" in m]
    if len(aucs) == k:
        result["roc_auc"] = float(np.mean(aucs))
    rows = np.arange(n)
    hit = np.where(predicted >= 0, calibrated[rows, np.clip(predicted, 0, k - 1)], 0.0)
    return {"accuracy": float(hit.mean()), **result}
