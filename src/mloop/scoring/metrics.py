"""Held-out metrics: the classification and regression sets ``mloop train`` reports and gates use."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, proba: np.ndarray | None, classes: np.ndarray
) -> dict[str, float]:
    binary = len(classes) == 2
    average = "binary" if binary else "macro"
    positive: Any = classes[1] if binary else 1
    result = {
        "accuracy": float(skm.accuracy_score(y_true, y_pred)),
        "precision": float(
            skm.precision_score(
                y_true, y_pred, average=average, pos_label=positive, zero_division=0
            )
        ),
        "recall": float(
            skm.recall_score(y_true, y_pred, average=average, pos_label=positive, zero_division=0)
        ),
        "f1": float(
            skm.f1_score(y_true, y_pred, average=average, pos_label=positive, zero_division=0)
        ),
    }
    # A class seen only in held-out rows has no probability column: those rows count as wrong
    # above, but the probability metrics can only be scored on the classes the model knows.
    known = np.isin(y_true, classes)
    if proba is not None and len(np.unique(y_true[known])) > 1:
        y_known, p_known = y_true[known], proba[known]
        if binary:
            result["roc_auc"] = float(skm.roc_auc_score(y_known == positive, p_known[:, 1]))
        elif len(np.unique(y_known)) == len(classes):
            result["roc_auc"] = float(
                skm.roc_auc_score(y_known, p_known, multi_class="ovr", labels=classes)
            )
        result["log_loss"] = float(skm.log_loss(y_known, p_known, labels=classes))
    return result


def classes_without_rows(classes: Any, y_true: Any) -> list[Any]:
    """The model's ``classes`` no row of ``y_true`` has, in the model's order: why a multi-class
    roc_auc (which needs a row of each) is left out of ``classification_metrics``."""
    present = set(np.asarray(y_true).tolist())
    return [c for c in np.asarray(classes).tolist() if c not in present]


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    return {
        "mae": float(skm.mean_absolute_error(y_true, y_pred)),
        "rmse": float(np.sqrt(skm.mean_squared_error(y_true, y_pred))),
        "r2": float(skm.r2_score(y_true, y_pred)) if len(y_true) > 1 else float("nan"),
    }
