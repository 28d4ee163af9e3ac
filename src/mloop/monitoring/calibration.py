"""Probability calibration for performance estimation, fitted on the training run's held-out rows.

CBPE needs probabilities that mean what they say. A model version's held-out split (the rows its
run kept out of training, ``registry.holdout``) is scored with the version itself, and an
isotonic regression is fitted per class (one-vs-rest; binary: the positive class only) from the
model's probability to whether the row was that class. Isotonic prediction is linear
interpolation between its fitted points, clipped at the ends, so the fitted points are all that is
kept: ``<log root>/.calibration/<artifact hash>.json`` (numbers only, written temp → rename), and
a later window loads them instead of re-scoring.

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

import contextlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from mloop.artifacts import ArtifactStore
from mloop.data.schema import category_text
from mloop.errors import InvalidInput, MloopError
from mloop.registry.versions import ModelVersion
from mloop.store import Store

CALIBRATION_DIR = ".calibration"
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


def _cache_path(log_root: Path, version: ModelVersion) -> Path:
    return log_root / CALIBRATION_DIR / f"{version.artifact_hash}.json"


def _load(path: Path) -> Calibrator | None:
    try:
        doc = orjson.loads(path.read_bytes())
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
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return None  # absent, torn or from another format: fitted again


def _save(path: Path, calibrator: Calibrator) -> None:
    doc = {
        "format": FORMAT,
        "rows": calibrator.rows,
        "source": calibrator.source,
        "curves": None
        if calibrator.curves is None
        else [{"x": x.tolist(), "y": y.tolist()} for x, y in calibrator.curves],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(orjson.dumps(doc))
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def calibrator_for(
    store: Store, artifacts: ArtifactStore, log_root: Path, version: ModelVersion
) -> Calibrator:
    """The version's calibrator: cached, or fitted on its run's held-out split and cached."""
    path = _cache_path(Path(log_root), version)
    cached = _load(path)
    if cached is not None:
        return cached
    from mloop.registry.gates import score
    from mloop.registry.holdout import load_holdout
    from mloop.registry.loading import load_version

    classes = list(version.signature.classes or [])
    try:
        holdout = load_holdout(store, artifacts, version, None)
        scored = score(load_version(artifacts, version), holdout)
    except InvalidInput as exc:  # no held-out split or target: lasting, so cached
        calibrator = Calibrator(None, 0, f"uncalibrated: {exc}")
    except MloopError as exc:  # a tampered or missing blob: estimate raw, fit again next time
        return Calibrator(None, 0, f"uncalibrated: {exc}")
    else:
        if scored.proba is None or scored.proba.shape[1] != len(classes):
            calibrator = Calibrator(None, 0, "uncalibrated: the model gives no probabilities")
        else:
            calibrator = fit_calibrator(scored.proba, scored.y_true, classes, holdout.source)
    _save(path, calibrator)
    return calibrator
