"""Per-column profiles, stored with each dataset version as the reference for later monitoring.

Mergeable by design: histograms use fixed bin edges kept in the profile (a monitoring window is
binned on the same edges and counts add up), category counts add up, and count/null totals add up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mloop.data.io import frame_columns, to_pandas
from mloop.data.schema import (
    ColumnSchema,
    Schema,
    TextColumn,
    infer_column,
    infer_schema,
    infer_text_column,
)

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


def profile_text_column(text: TextColumn, kind: str) -> dict[str, Any]:
    """``profile_column`` for a column of Python strings and ``None``, from its Arrow counts."""
    present = text.rows - text.nulls
    profile: dict[str, Any] = {
        "type": kind,
        "count": present,
        "nulls": text.nulls,
        "null_rate": float(text.nulls / text.rows) if text.rows else 0.0,
        "distinct": text.distinct,
    }
    if kind in {"categorical", "boolean"}:
        assert text.counts is not None, "inferred categories are at most MAX_CATEGORIES"
        ranked = sorted(text.counts, key=lambda item: -item[1])  # stable, like value_counts
        profile["categories"] = {k: v for k, v in ranked[:TOP_CATEGORIES]}
        profile["other_count"] = sum(v for _, v in ranked[TOP_CATEGORIES:])
    elif kind == "string":
        total = pc.sum(pc.utf8_length(text.column)).as_py() or 0
        profile["mean_length"] = float(total / present) if present else 0.0
    else:
        raise ValueError(f"a text column is not profiled as {kind}")
    return profile


def infer_and_profile(table: pa.Table) -> tuple[Schema, dict[str, Any]]:
    """``infer_schema`` and ``profile_frame`` of ``to_pandas(table)``, without that frame.

    Text stays in Arrow and every other column is converted on its own, one at a time, so no
    Python string objects are made and at most one converted column is alive: on a 1M-row table
    this about halves the time and cuts the peak memory by a fifth (CSV) to two fifths (Parquet).
    """
    columns = frame_columns(table)
    if columns is None:
        frame = to_pandas(table)
        schema = infer_schema(frame)
        return schema, profile_frame(frame, schema)
    inferred: list[ColumnSchema] = []
    profiles: dict[str, Any] = {}
    for name, column in columns:
        if isinstance(column, pa.ChunkedArray):
            text = TextColumn.of(column)
            inferred.append(infer_text_column(name, text))
            profiles[name] = profile_text_column(text, inferred[-1].type)
        else:
            inferred.append(infer_column(name, column))
            profiles[name] = profile_column(column, inferred[-1].type)
    return Schema(columns=inferred), {"rows": table.num_rows, "columns": profiles}


def profile_frame(frame: pd.DataFrame, schema: Schema) -> dict[str, Any]:
    return {
        "rows": len(frame),
        "columns": {
            c.name: profile_column(frame[c.name], c.type)
            for c in schema.columns
            if c.name in frame.columns
        },
    }
