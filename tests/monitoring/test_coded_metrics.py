"""The coded metrics are ``mloop train``'s metrics: equal on the same labels, any label type."""

from __future__ import annotations

import numpy as np
import pytest

from mloop.monitoring.coded_metrics import coded_classification_metrics
from mloop.scoring.metrics import classification_metrics


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_equals_train_metrics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    classes = np.array(["no", "yes"], dtype=object)
    p = rng.random(2000)
    y = (rng.random(2000) < p).astype(int)
    pred = (p >= 0.5).astype(int)
    proba = np.column_stack([1 - p, p])
    expected = classification_metrics(classes[y], classes[pred], proba, classes)
    assert coded_classification_metrics(y, pred, proba, 2) == pytest.approx(expected)


def test_multiclass_with_an_unknown_label_equals_train_metrics() -> None:
    rng = np.random.default_rng(5)
    classes = np.array(["a", "b", "c"], dtype=object)
    proba = rng.dirichlet([1, 1, 1], 3000)
    y = np.array([rng.choice(3, p=row) for row in proba])
    y[:40] = 3  # a label the model never learned ("d"): wrong everywhere, left out of roc_auc
    pred = proba.argmax(axis=1)
    named = np.array(["a", "b", "c", "d"], dtype=object)
    expected = classification_metrics(named[y], classes[pred], proba, classes)
    got = coded_classification_metrics(y, pred, proba, 3)
    assert got == pytest.approx(expected)
    assert "roc_auc" in got


def test_without_probabilities_and_with_one_class_present() -> None:
    y = np.zeros(10, dtype=int)
    pred = np.array([0] * 8 + [1] * 2)
    classes = np.array([False, True])
    expected = classification_metrics(classes[y], classes[pred], None, classes)
    assert coded_classification_metrics(y, pred, None, 2) == pytest.approx(expected)


def test_tied_scores_equal_train_metrics() -> None:
    """Rounded probabilities tie often; the rank-based AUC must split ties as sklearn does."""
    rng = np.random.default_rng(11)
    classes = np.array([0, 1])
    p = np.round(rng.random(5000), 1)
    y = (rng.random(5000) < p).astype(int)
    pred = (p >= 0.5).astype(int)
    proba = np.column_stack([1 - p, p])
    expected = classification_metrics(classes[y], classes[pred], proba, classes)
    assert coded_classification_metrics(y, pred, proba, 2) == pytest.approx(expected, abs=1e-12)
