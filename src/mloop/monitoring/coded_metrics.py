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
- roc_auc and log_loss: scikit-learn's own, on the rows whose label the model knows, exactly as
  ``classification_metrics`` calls them.
"""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def _safe(top: np.ndarray, bottom: np.ndarray) -> np.ndarray:
    out: np.ndarray = np.divide(top, bottom, out=np.zeros(len(top)), where=bottom > 0)
    return out


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
        labels = np.arange(k)
        if k == 2:
            result["roc_auc"] = float(skm.roc_auc_score(y_known == 1, p_known[:, 1]))
        elif len(np.unique(y_known)) == k:
            result["roc_auc"] = float(
                skm.roc_auc_score(y_known, p_known, multi_class="ovr", labels=labels)
            )
        result["log_loss"] = float(skm.log_loss(y_known, p_known, labels=labels))
    return result
