"""Outlier fences from a reference profile: where a value stops being plausible for a column.

A value is an outlier when it lies far outside the reference's inter-quartile range: more than
``FENCE_IQRS`` ranges beyond the 25th/75th percentiles (Tukey's "far out" fence), widened to the
reference's own minimum and maximum so that no value already seen in the training data is ever
called implausible. A body mass of 99,999 g against quartiles 3,550..4,750 g is far out; 6,300 g,
the heaviest penguin seen, is not. This is the one place that reads a column profile for fences.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

FENCE_IQRS = 3.0


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def outlier_fences(column_profile: Mapping[str, Any] | None) -> tuple[float, float] | None:
    """(low, high): values below ``low`` or above ``high`` are outliers; None without quartiles."""
    if not column_profile:
        return None
    quantiles = column_profile.get("quantiles") or {}
    p25, p75 = _finite(quantiles.get("p25")), _finite(quantiles.get("p75"))
    low, high = _finite(column_profile.get("min")), _finite(column_profile.get("max"))
    if p25 is None or p75 is None or low is None or high is None:
        return None
    spread = FENCE_IQRS * (p75 - p25)
    return min(p25 - spread, low), max(p75 + spread, high)
