"""The drift methods: one function each, over two sides of one column, with its default threshold.

Two families (docs/monitoring.md, "## Drift", has the formulas):

- tests (``ks``, ``chisquare``): the score is the p-value, drift when it is *below* the
  threshold (0.05); the test statistic is kept beside it. Right at small samples; at a million
  rows a test flags differences nobody cares about, so the defaults switch to distances there.
- distances (``wasserstein``, ``psi``, ``jensenshannon``): the score is the distance, drift when
  it is *above* the threshold; no p-value.

Numbers reach the methods as a ``NumericSide`` (a profile, plus its sorted raw values when the
side was read from rows and is small enough to keep them exact) and categories as counts aligned
by label. Binned methods on numbers use the reference's histogram bins plus the open bins below
and above them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mloop.data.profile_columns import NumericProfile

METHODS = ("ks", "chisquare", "psi", "jensenshannon", "wasserstein")
TESTS = frozenset({"ks", "chisquare"})
NUMERIC_ONLY = frozenset({"ks", "wasserstein"})
DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "psi": 0.1,
    # 0.07 is a 10-point move of a 50/50 share (distance ≈ Δp/√(8·p(1-p))): a 15-point move is
    # ≥ 0.106 whatever the shares, while same-distribution noise at 10,000 rows a side stays
    # below 0.07 up to ~150 categories. (Evidently's 0.1 misses a 50→65% move half the time.)
    "jensenshannon": 0.07,
    "wasserstein": 0.1,
}
NAMES = {
    "ks": "KS",
    "chisquare": "chi-square",
    "psi": "PSI",
    "jensenshannon": "Jensen–Shannon",
    "wasserstein": "normalised Wasserstein",
}
SMALL_SAMPLE = 1000  # at most this many values on the smaller side: the tests are the default
GRID = 1000  # ranks at which sketch-backed quantile functions are compared
PSI_FLOOR = 1e-4  # an empty bin's share in PSI (as Evidently), so ln(c/r) stays finite


@dataclass(frozen=True)
class Outcome:
    score: float
    p_value: float | None = None
    statistic: float | None = None


@dataclass(frozen=True)
class NumericSide:
    """One side of a numeric column: its profile, and its sorted finite values when kept."""

    profile: NumericProfile
    values: np.ndarray | None = None

    @property
    def n(self) -> int:
        return len(self.values) if self.values is not None else self.profile.finite

    def quantiles(self, ranks: np.ndarray) -> np.ndarray:
        if self.values is not None:
            return np.asarray(np.quantile(self.values, ranks), dtype=float)
        sketch = self.profile.sketch
        if not sketch.is_empty():
            return np.asarray(sketch.get_quantiles(ranks), dtype=float)
        return np.array([self.profile.quantile(float(q)) or 0.0 for q in ranks])

    def cdf(self, points: np.ndarray) -> np.ndarray:
        """``P(X <= x)`` at each of the sorted ``points``."""
        if self.values is not None:
            found = np.searchsorted(self.values, points, side="right")
            return np.asarray(found, dtype=float) / max(len(self.values), 1)
        sketch = self.profile.sketch
        if not sketch.is_empty():
            return np.asarray(sketch.get_cdf(points, inclusive=True), dtype=float)[:-1]
        ranks = np.linspace(0.0, 1.0, 101)
        return np.asarray(np.interp(points, self.quantiles(ranks), ranks, left=0.0, right=1.0))

    def bins(self, edges: np.ndarray) -> np.ndarray:
        """Counts ``[below, bins…, above]`` on ``edges``: exact when the profile was counted on
        them, else through the quantile function (within the sketch's rank error)."""
        own = self.profile
        if own.edges is not None and own.counts is not None and np.array_equal(own.edges, edges):
            return own.counts.astype(float)
        cdf = self.cdf(np.asarray(edges, dtype=float))
        shares = np.diff(np.concatenate([[0.0], cdf, [1.0]]))
        return np.clip(shares, 0.0, None) * self.n


def _grid() -> np.ndarray:
    return (np.arange(GRID) + 0.5) / GRID


def scale_of(reference: NumericProfile) -> float:
    """What Wasserstein is divided by: the reference's standard deviation (its mean's size, or
    1, for a constant column)."""
    if reference.std > 0:
        return reference.std
    return abs(reference.mean) if reference.mean and math.isfinite(reference.mean) else 1.0


def wasserstein(reference: NumericSide, current: NumericSide) -> Outcome:
    """W1 = ∫|F_r − F_c| dx = ∫₀¹|Q_r(u) − Q_c(u)| du, over the reference's standard deviation.

    Exact (``scipy.stats.wasserstein_distance``) when both sides kept their values; else the
    mean gap between the two quantile functions at 1000 mid-point ranks.
    """
    if reference.values is not None and current.values is not None:
        from scipy import stats  # scipy.stats costs ~0.5 s to import: only when used

        w1 = float(stats.wasserstein_distance(reference.values, current.values))
    else:
        ranks = _grid()
        w1 = float(np.mean(np.abs(reference.quantiles(ranks) - current.quantiles(ranks))))
    return Outcome(w1 / scale_of(reference.profile))


def ks(reference: NumericSide, current: NumericSide) -> Outcome:
    """``scipy.stats.ks_2samp`` (default arguments) when both sides kept their values.

    Otherwise D = max|F_r − F_c| over both sides' quantiles at 1000 ranks, read from the
    sketches, and the p-value of ``ks_2samp``'s asymptotic mode: ``kstwo.sf(D, round(n·m/(n+m)))``.
    A sketch's rank error (about 0.01) adds to D, so at large sizes this test flags noise: use a
    distance there (the default).
    """
    from scipy import stats

    if reference.values is not None and current.values is not None:
        result = stats.ks_2samp(reference.values, current.values)
        return Outcome(float(result.pvalue), float(result.pvalue), float(result.statistic))
    ranks = _grid()
    points = np.unique(np.concatenate([reference.quantiles(ranks), current.quantiles(ranks)]))
    d = float(np.max(np.abs(reference.cdf(points) - current.cdf(points)))) if len(points) else 0.0
    big, small = sorted([float(reference.n), float(current.n)], reverse=True)
    en = big * small / (big + small) if big + small else 0.0
    p = float(stats.kstwo.sf(d, max(round(en), 1)))
    return Outcome(p, p, d)


def _shares(counts: np.ndarray) -> np.ndarray:
    total = counts.sum()
    return counts / total if total else counts


def psi(reference: np.ndarray, current: np.ndarray) -> Outcome:
    """PSI = Σ (c_i − r_i)·ln(c_i / r_i) over shares, an empty bin's share taken as 1e-4."""
    r = np.maximum(_shares(reference), PSI_FLOOR)
    c = np.maximum(_shares(current), PSI_FLOOR)
    return Outcome(float(np.sum((c - r) * np.log(c / r))))


def jensenshannon(reference: np.ndarray, current: np.ndarray) -> Outcome:
    """``scipy.spatial.distance.jensenshannon`` of the shares (natural log: 0 to √ln2 ≈ 0.83)."""
    r, c = _shares(reference), _shares(current)
    m = (r + c) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        # rel_entr: x·ln(x/m), 0 where x is 0 (scipy's definition, without importing scipy)
        divergence = np.where(r > 0, r * np.log(r / m), 0.0) + np.where(
            c > 0, c * np.log(c / m), 0.0
        )
    value = math.sqrt(max(float(divergence.sum()) / 2, 0.0))
    return Outcome(value)


def chisquare(reference: np.ndarray, current: np.ndarray) -> Outcome:
    """``scipy.stats.chi2_contingency`` (default arguments) on the 2×k table of counts; labels
    with no count on either side are left out (they carry no information and break the test)."""
    table = np.vstack([reference, current])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
        return Outcome(1.0, 1.0, 0.0)
    from scipy import stats

    result = stats.chi2_contingency(table)
    p = float(result.pvalue)
    return Outcome(p, p, float(result.statistic))


def is_drift(method: str, score: float, threshold: float) -> bool:
    return score < threshold if method in TESTS else score > threshold


def default_method(kind: str, smaller_side: int) -> str:
    """Tests while the smaller side has at most ``SMALL_SAMPLE`` values, distances above."""
    small = smaller_side <= SMALL_SAMPLE
    if kind in ("numeric", "datetime"):
        return "ks" if small else "wasserstein"
    return "chisquare" if small else "jensenshannon"
