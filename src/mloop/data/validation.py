"""Checking a pandas frame against a schema: the batch validator, for callers holding a frame.

The rules live in the compiled schema (data/compiled.py) and are checked on Arrow
(data/batch_checks.py); this wrapper converts the frame and keeps the reports callers rely on.
Row numbers in reports are 1-based data rows (row 1 is the first line after the header).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from mloop.data.schema import Schema, category_text
from mloop.data.violations import ValidationReport, Violation

__all__ = ["ValidationReport", "Violation", "frame_to_table", "validate_frame"]


def _column(series: pd.Series) -> pa.Array:
    try:
        return pa.array(series, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        # Mixed Python objects ("1", "two", 3): their spellings, as the category rule writes them.
        return pa.array(
            [
                None if v is None or (not isinstance(v, str) and pd.isna(v)) else category_text(v)
                for v in series.astype(object)
            ],
            pa.string(),
        )


def frame_to_table(frame: pd.DataFrame) -> pa.Table:
    """The frame as an Arrow table (NaN as missing), one column per frame column."""
    frame = frame.reset_index(drop=True)
    return (
        pa.table({str(name): _column(frame[name]) for name in frame.columns})
        if len(frame.columns)
        else pa.table({"": pa.nulls(len(frame))}).drop_columns([""])
    )


def validate_frame(
    schema: Schema,
    frame: pd.DataFrame,
    *,
    root: Path | None = None,
    profile: Mapping[str, Any] | None = None,
) -> ValidationReport:
    """Check ``frame`` against every rule of ``schema``; raises ``InvalidInput`` only for a broken
    custom check. ``profile`` (the reference version's) turns on the outlier checks."""
    return schema.compile(profile, root=root).validate_table(frame_to_table(frame))
