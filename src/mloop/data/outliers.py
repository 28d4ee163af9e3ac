"""Outlier fences from a reference profile: where a value stops being plausible for a column.

A value is an outlier when it lies far outside the reference's inter-quartile range: more than
``FENCE_IQRS`` ranges beyond the 25th/75th percentiles (Tukey's "far out" fence), widened to the
reference's own minimum and maximum so that no value already seen in the training data is ever
called implausible. A body mass of 99,999 g against quartiles 3,550..4,750 g is far out; 6,300 g,
the heaviest penguin seen, is not. This is the one place that reads a column profile for fences.
"""

from __future__ import annotations

import math

from mloop.data.profile_columns import ColumnProfile, DatetimeProfile, NumericProfile

FENCE_IQRS = 3.0


def outlier_fences(column_profile: ColumnProfile | None) -> tuple[float, float] | None:
    """(low, high): values below ``low`` or above ``high`` are outliers; None for a column
    without a numeric profile (text, dates, a column no value was seen in)."""
    if not isinstance(column_profile, NumericProfile) or isinstance(
        column_profile, DatetimeProfile
    ):
        return None
    p25, p75 = column_profile.quantile(0.25), column_profile.quantile(0.75)
    low, high = column_profile.min, column_profile.max
    if p25 is None or p75 is None or low is None or high is None:
        return None
    if not all(math.isfinite(v) for v in (p25, p75, low, high)):
        return None
    spread = FENCE_IQRS * (p75 - p25)
    return min(p25 - spread, low), max(p75 + spread, high)
