"""One line a person can read for each column's verdict: what moved, by which measure, how far.

"tenure: median 29 → 18, normalised Wasserstein 0.41 > 0.1" for numbers; for categories the
label whose share moved most ("contract: 'month-to-month' 42% → 57%, Jensen–Shannon 0.11 > 0.07").
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from mloop.monitoring.methods import NAMES, TESTS


def number(value: float) -> str:
    """Three significant figures, no exponent for everyday sizes: 29, 0.412, 18,400."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    size = abs(value)
    if size >= 1e7 or size < 1e-4:
        return f"{value:.3g}"
    if size >= 1000:
        return f"{value:,.0f}"
    digits = max(0, 2 - math.floor(math.log10(size)))
    text = f"{value:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def instant(value: float, tz: str | None) -> str:
    stamp = pd.Timestamp(round(value), unit="ns")
    if tz is not None:
        stamp = stamp.tz_localize("UTC").tz_convert(tz)
    return stamp.isoformat(timespec="seconds") if stamp.nanosecond == 0 else stamp.isoformat()


def verdict(method: str, score: float, threshold: float, statistic: float | None) -> str:
    """ "normalised Wasserstein 0.41 > 0.1", "KS D=0.21, p=0.0003 < 0.05"."""
    name = NAMES.get(method, method)
    if method in TESTS:
        stat = (
            "" if statistic is None else f" {'D' if method == 'ks' else 'χ²'}={number(statistic)}"
        )
        sign = "<" if score < threshold else "≥"
        return f"{name}{stat}, p={number(score)} {sign} {number(threshold)}"
    sign = ">" if score > threshold else "≤"
    return f"{name} {number(score)} {sign} {number(threshold)}"


SPREAD_SHOWN = 0.1  # the standard deviation is named too when it changed by more than 10%


def numeric_change(
    reference: float | None,
    current: float | None,
    tz: str | None = None,
    *,
    datetime: bool = False,
    spread: tuple[float, float] | None = None,
) -> str:
    """ "median 29 → 18", plus "sd 1 → 1.41" when the spread moved (a median alone does not
    show a doubled variance)."""
    if reference is None or current is None:
        return "no values on one side"
    if datetime:
        return f"median {instant(reference, tz)} → {instant(current, tz)}"
    text = f"median {number(reference)} → {number(current)}"
    if spread is not None and spread[0] > 0 and abs(spread[1] / spread[0] - 1) > SPREAD_SHOWN:
        text += f", sd {number(spread[0])} → {number(spread[1])}"
    return text


def share_change(labels: list[str], reference: np.ndarray, current: np.ndarray) -> str:
    """The label whose share moved most, as percentages."""
    if not labels or reference.sum() == 0 or current.sum() == 0:
        return "no values on one side"
    r, c = reference / reference.sum(), current / current.sum()
    top = int(np.argmax(np.abs(c - r)))
    return f"{labels[top]!r} {_percent(r[top])} → {_percent(c[top])}"


def _percent(share: float) -> str:
    value = share * 100
    if value == 0 or value >= 10 or value == round(value):
        return f"{value:.0f}%"
    return f"{value:.1f}%"
