"""Per-column profiles, stored with each dataset version as the reference for later monitoring.

Mergeable by design: histograms use fixed bin edges kept in the profile (a monitoring window is
binned on the same edges and counts add up), category counts add up, and count/null totals add up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mloop.data.schema import Schema

HISTOGRAM_BINS = 20
TOP_CATEGORIES = 50
QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.5,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}


def _numeric_profile(values: np.ndarray) -> dict[str, Any]:
    finite = values[np.isfinite(values)]
    if not len(finite):
        return {}
    low, high = float(finite.min()), float(finite.max())
    edges = np.linspace(low, high, HISTOGRAM_BINS + 1) if high > low else np.array([low, low + 1.0])
    counts, _ = np.histogram(finite, bins=edges)
    quantiles = np.quantile(finite, list(QUANTILES.values()))
    return {
        "min": low,
        "max": high,
        "mean": float(finite.mean()),
        "std": float(finite.std(ddof=1)) if len(finite) > 1 else 0.0,
        "quantiles": {k: float(q) for k, q in zip(QUANTILES, quantiles, strict=True)},
        "histogram": {"edges": edges.tolist(), "counts": counts.tolist()},
    }


def _category_profile(series: pd.Series) -> dict[str, Any]:
    counts = series.astype(str).value_counts()
    top = counts.head(TOP_CATEGORIES)
    return {
        "categories": {str(k): int(v) for k, v in top.items()},
        "other_count": int(counts.iloc[TOP_CATEGORIES:].sum()),
    }


def profile_column(series: pd.Series, kind: str) -> dict[str, Any]:
    present = series.dropna()
    rows = len(series)
    profile: dict[str, Any] = {
        "type": kind,
        "count": len(present),
        "nulls": int(rows - len(present)),
        "null_rate": float((rows - len(present)) / rows) if rows else 0.0,
        "distinct": int(present.astype(str).nunique())
        if kind in {"categorical", "string", "boolean"}
        else int(present.nunique()),
    }
    if kind in {"integer", "float"}:
        values = pd.to_numeric(present, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        profile.update(_numeric_profile(values))
    elif kind == "datetime":
        stamps = pd.to_datetime(present, errors="coerce", format="mixed").dropna()
        if len(stamps):
            profile.update({"min": stamps.min().isoformat(), "max": stamps.max().isoformat()})
    elif kind in {"categorical", "boolean"}:
        profile.update(_category_profile(present))
    else:
        lengths = present.astype(str).str.len()
        profile["mean_length"] = float(lengths.mean()) if len(lengths) else 0.0
    return profile


def profile_frame(frame: pd.DataFrame, schema: Schema) -> dict[str, Any]:
    return {
        "rows": len(frame),
        "columns": {
            c.name: profile_column(frame[c.name], c.type)
            for c in schema.columns
            if c.name in frame.columns
        },
    }
