"""Probability calibration for performance estimation: isotonic curves fitted on held-out rows.

CBPE needs probabilities that mean what they say. An isotonic regression is fitted per class
(one-vs-rest; binary: the positive class only) from the model's probability on held-out rows to
whether the row was that class. Isotonic prediction is linear interpolation between its fitted
points, clipped at the ends, so the fitted points are all that is kept (``to_doc``: numbers only).

Training fits it on the held-out split it has just scored (``mloop train`` stores it with the
run), so a monitor never re-scores the held-out rows; the monitor fits it itself only for a
version that came without one.

Calibration is only kept where it helps, as NannyML decides: the held-out rows are split in
``FOLDS`` folds, a curve fitted on the others calibrates each fold, and when the Brier score
(mean squared error of the probability, a proper scoring rule, steadier on a thousand rows than a
binned calibration error) of these out-of-fold probabilities is not lower than the raw
probabilities', the raw ones are used: an isotonic curve fitted on a thousand rows of an already
calibrated model only adds its own noise.
A version without a held-out split, or with fewer than ``MIN_ROWS`` rows in it, is estimated on
its raw probabilities too; the report says which.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from mloop.data.schema import category_text

MIN_ROWS = 50
FOLDS = 5
BINS = 10
FORMAT = 2


@dataclass(frozen=True)
class Calibrator:
    """Per class, the isotonic curve's points (``None``: raw probabilities are used as they are)."""

    curves: tuple[tuple[np.ndarray, np.ndarray], ...] | None
    rows: int
    source: str

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Calibrated n×k probabilities for the model's raw n×k ones (class order kept)."""
        if self.curves is None:
            return raw
        if raw.shape[1] == 2 and len(self.curves) == 1:
            x, y = self.curves[0]
            positive = np.interp(raw[:, 1], x, y)
            return np.column_stack([1.0 - positive, positive])
        out = np.column_stack([np.interp(raw[:, c], x, y) for c, (x, y) in enumerate(self.curves)])
        total = out.sum(axis=1, keepdims=True)
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), raw)

    def to_json(self) -> dict[str, Any]:
        return {
            "method": "isotonic" if self.curves else "none",
            "rows": self.rows,
            "source": self.source,
        }


def _isotonic(score: np.ndarray, hit: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.isotonic import IsotonicRegression

    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(score, hit)
    return np.asarray(fitted.X_thresholds_, float), np.asarray(fitted.y_thresholds_, float)


def calibration_error(p: np.ndarray, hit: np.ndarray, bins: int = BINS) -> float:
    """Expected calibration error over equal-count bins of ``p``."""
    order = np.argsort(p, kind="stable")
    parts = np.array_split(order, min(bins, len(p)))
    return float(sum(abs(p[i].mean() - hit[i].mean()) * len(i) for i in parts if len(i)) / len(p))


def brier(p: np.ndarray, hit: np.ndarray) -> float:
    return float(np.mean((p - hit) ** 2))


def _helps(score: np.ndarray, hit: np.ndarray) -> bool:
    """Whether out-of-fold isotonic probabilities are better calibrated than the raw ones."""
    folds = np.arange(len(score)) % FOLDS
    np.random.default_rng(0).shuffle(folds)
    calibrated = np.empty_like(score)
    for fold in range(FOLDS):
        held = folds == fold
        x, y = _isotonic(score[~held], hit[~held])
        calibrated[held] = np.interp(score[held], x, y)
    return brier(calibrated, hit) < brier(score, hit)


def fit_calibrator(
    raw: np.ndarray, truth: np.ndarray, classes: list[Any], source: str
) -> Calibrator:
    """Isotonic curves from held-out raw probabilities (n×k) and true labels, when they help."""
    rows = len(truth)
    if rows < MIN_ROWS:
        return Calibrator(None, rows, f"uncalibrated: only {rows} held-out rows in {source}")
    texts = np.asarray([category_text(v) for v in truth], dtype=object)
    hits = [(texts == category_text(c)).astype(float) for c in classes]
    picked = [1] if len(classes) == 2 else list(range(len(classes)))
    if not any(_helps(raw[:, c], hits[c]) for c in picked):
        return Calibrator(
            None,
            rows,
            f"already calibrated: isotonic calibration on {rows:,} held-out rows of {source} "
            "did not lower the Brier score",
        )
    curves = tuple(_isotonic(raw[:, c], hits[c]) for c in picked)
    return Calibrator(curves, rows, f"isotonic on {rows:,} held-out rows of {source}")


def to_doc(calibrator: Calibrator) -> dict[str, Any]:
    """The calibrator as JSON-ready numbers (what the run and the monitor's cache store)."""
    return {
        "format": FORMAT,
        "rows": calibrator.rows,
        "source": calibrator.source,
        "curves": None
        if calibrator.curves is None
        else [{"x": x.tolist(), "y": y.tolist()} for x, y in calibrator.curves],
    }


def from_doc(doc: Any) -> Calibrator | None:
    """The calibrator ``to_doc`` wrote; None for another format or a torn document."""
    try:
        if doc.get("format") != FORMAT:
            return None
        curves = doc["curves"]
        return Calibrator(
            None
            if curves is None
            else tuple((np.asarray(c["x"], float), np.asarray(c["y"], float)) for c in curves),
            int(doc["rows"]),
            str(doc["source"]),
        )
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
