"""The production gate's paired bootstrap: the old per-resample scikit-learn loop vs the vectorised one.

    python benchmarks/gates.py                          # 200,000 holdout rows, 300 resamples
    python benchmarks/gates.py --rows 2000 --resamples 20   # smoke run

Two logistic models, each trained on half of the features of one generated table, are scored on
the same holdout; both sides compute the 90% interval of their roc_auc difference (the production
gate's no_regression check). The old side is the loop mloop ran before: draw row indices, call
scikit-learn twice per resample. The new side is mloop.registry.bootstrap.paired_bootstrap
(Poisson counts, every resample as a matrix product or a cumulative sum). Their intervals differ
only by resampling noise.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn import metrics as skm
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from mloop.registry.bootstrap import paired_bootstrap


@dataclass(frozen=True)
class Outputs:
    y_true: np.ndarray
    y_pred: np.ndarray
    proba: np.ndarray | None
    classes: np.ndarray | None


def old_paired_bootstrap(
    cand: Outputs, inc: Outputs, samples: int, confidence: float, seed: int = 0
) -> tuple[float, float]:
    """The loop as it was in mloop.registry.gates (roc_auc of a binary model)."""
    rng = np.random.default_rng(seed)
    n = len(cand.y_true)
    differences = np.empty(samples)

    def auc(side: Outputs, rows: np.ndarray) -> float:
        assert side.proba is not None and side.classes is not None
        y = side.y_true[rows]
        if len(np.unique(y)) < 2:
            return float("nan")
        return float(skm.roc_auc_score(y == side.classes[1], side.proba[rows, 1]))

    for i in range(samples):
        rows = rng.integers(0, n, n)
        differences[i] = auc(cand, rows) - auc(inc, rows)
    tail = (1 - confidence) / 2
    low, high = np.nanquantile(differences, [tail, 1 - tail])
    return float(low), float(high)


def models(rows: int) -> tuple[Outputs, Outputs]:
    x, y = make_classification(
        n_samples=2 * rows, n_features=10, n_informative=6, random_state=0, flip_y=0.1
    )
    train, test = slice(0, rows), slice(rows, 2 * rows)
    sides = []
    for columns in (slice(0, 6), slice(4, 10)):
        model = LogisticRegression(max_iter=500).fit(x[train, columns], y[train])
        proba = model.predict_proba(x[test, columns])
        sides.append(Outputs(y[test], model.classes_[proba.argmax(1)], proba, model.classes_))
    return sides[0], sides[1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=200_000, help="holdout rows")
    parser.add_argument("--resamples", type=int, default=300, help="the production gate's 300")
    parser.add_argument("--confidence", type=float, default=0.90)
    args = parser.parse_args()

    candidate, incumbent = models(args.rows)
    load = os.getloadavg()[0]
    print(
        f"gates: paired bootstrap of roc_auc, {args.rows:,} holdout rows, {args.resamples} "
        f"resamples, {os.cpu_count()} cores, load average {load:.1f}"
    )
    print(f"{'side':<40}{'seconds':>10}   interval of the roc_auc difference")
    sides: dict[str, Callable[[], tuple[float, float]]] = {
        "old (scikit-learn per resample)": lambda: old_paired_bootstrap(
            candidate, incumbent, args.resamples, args.confidence
        ),
        "mloop (vectorised, Poisson counts)": lambda: paired_bootstrap(
            candidate, incumbent, "roc_auc", args.resamples, args.confidence
        ),
    }
    timings = {}
    for label, run in sides.items():
        start = time.perf_counter()
        low, high = run()
        timings[label] = time.perf_counter() - start
        print(f"{label:<40}{timings[label]:>10.2f}   [{low:+.5f}, {high:+.5f}]")
    old, new = timings.values()
    verdict = "met" if new < 10 else "NOT met"
    print(f"ratio old / mloop: {old / new:,.1f}x; target: mloop under 10 s: {verdict}")


if __name__ == "__main__":
    main()
