"""A dataset version's schema and profile, inferred and counted in one pass over Arrow batches.

``infer_and_profile`` is the one implementation: a whole table (one update per column) and a file
streamed batch by batch go through the same ``TableScan``, so what a version stores does not
depend on how it was read. The profile (``DatasetProfile``, format 2) holds one mergeable
``ColumnProfile`` per column (see profile_columns) plus add-time facts that do not merge (the
exact number of distinct values, where it was counted). Stored format-1 profiles are upgraded
when read (``upgrade``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mloop.data.dates import field_format
from mloop.data.profile_columns import (
    BooleanProfile,
    CategoricalProfile,
    ColumnProfile,
    DatetimeProfile,
    NumericProfile,
    Values,
    column_profile_from_json,
    normalise_spellings,
)
from mloop.data.schema import (
    MAX_CATEGORIES,
    MIN_ROWS_FOR_UNIQUE,
    ColumnSchema,
    ColumnType,
    Schema,
    TextColumn,
    infer_text_column,
    inferred_null_limit,
    read_truth,
)

FORMAT_VERSION = 2
# Distinct values are kept (per batch, then compacted) only for columns whose distinct count
# is worth knowing: integers (row numbers, unique ids) and text. Floats are not counted.
_COMPACT_AT = 1 << 21
# Fractional numbers are counted while they have at most this many distinct values (whole
# numbers always are: unique ids and row numbers need the exact count).
FLOAT_DISTINCT_CAP = 100_000
_PROBE = 10_000


@dataclass
class DatasetProfile:
    """Per-column mergeable profiles of a table, and the facts counted when it was added."""

    FORMAT: ClassVar[int] = FORMAT_VERSION
    rows: int
    columns: dict[str, ColumnProfile]
    distinct: dict[str, int | None] = field(default_factory=dict)

    def like(self) -> DatasetProfile:
        """Empty profiles on the same reference edges: what a monitoring window is counted in."""
        return DatasetProfile(0, {name: c.like() for name, c in self.columns.items()})

    def update(self, batch: pa.RecordBatch | pa.Table) -> DatasetProfile:
        """Count a batch of rows in (columns the profile does not know are ignored)."""
        self.rows += batch.num_rows
        for name, profile in self.columns.items():
            if name in batch.schema.names:
                profile.update(batch.column(name))
        return self

    def merge(self, other: DatasetProfile) -> DatasetProfile:
        """Both profiles' rows; distinct counts do not add up and are left out."""
        return DatasetProfile(
            self.rows + other.rows,
            {
                name: profile.merge(other.columns[name])
                for name, profile in self.columns.items()
                if name in other.columns
            },
        )

    def to_json(self) -> dict[str, Any]:
        columns = {}
        for name, profile in self.columns.items():
            data = profile.to_json()
            if self.distinct.get(name) is not None:
                data["distinct"] = self.distinct[name]
            columns[name] = data
        return {"format_version": self.FORMAT, "rows": self.rows, "columns": columns}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetProfile:
        data = upgrade(data)
        return cls(
            int(data["rows"]),
            {name: column_profile_from_json(c) for name, c in data["columns"].items()},
            {name: c.get("distinct") for name, c in data["columns"].items()},
        )


def upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """A stored profile in the current format: format 1 (no ``format_version``) is converted.

    Format 1 had histograms over min..max (so nothing was below or above them), exact quantiles
    (kept, as there is no sketch to rebuild), category counts by raw spelling (normalised here),
    and only min/max for datetimes. A converted profile reads like a new one; it cannot be merged
    with new counts where it lacks a sketch.
    """
    if int(data.get("format_version", 1)) >= FORMAT_VERSION:
        return data
    rows = int(data.get("rows", 0))
    columns = {name: _upgrade_column(c, rows) for name, c in data.get("columns", {}).items()}
    return {"format_version": FORMAT_VERSION, "rows": rows, "columns": columns, "upgraded": 1}


def _upgrade_column(old: dict[str, Any], rows: int) -> dict[str, Any]:
    kind = old.get("type", "string")
    nulls = int(old.get("nulls", 0))
    base: dict[str, Any] = {
        "type": kind,
        "rows": rows,
        "count": rows - nulls,
        "nulls": nulls,
        "null_rate": nulls / rows if rows else 0.0,
        "distinct": old.get("distinct"),
    }
    if kind in {"integer", "float"}:
        hist = old.get("histogram") or {"edges": [], "counts": []}
        finite = int(sum(hist["counts"]))
        std = float(old.get("std", 0.0))
        return base | {
            "kind": "numeric",
            "posinf": rows - nulls - finite,  # format 1 counted infinities without their sign
            "finite": finite,
            **_kept(old, "min", "max", "mean", "quantiles"),
            "std": std,
            "m2": std * std * (finite - 1) if finite > 1 else 0.0,
            "rank_error": 0.0,
            "histogram": {"edges": hist["edges"], "counts": hist["counts"], "below": 0, "above": 0}
            if hist["edges"]
            else {"edges": [], "counts": [], "below": 0, "above": 0},
            "sketch": None,
        }
    if kind == "datetime":
        present = rows - nulls
        return base | {
            "kind": "datetime",
            "finite": present if "min" in old else 0,
            **_kept(old, "min", "max"),
            "histogram": {"edges": [], "counts": [], "below": 0, "above": 0},
            "sketch": None,
            "tz": _zone_of(old.get("min")),
        }
    categories = {str(k): int(v) for k, v in (old.get("categories") or {}).items()}
    # Format 1 listed no categories for free text: all of its values are "other".
    other = int(old.get("other_count", rows - nulls - sum(categories.values())))
    if kind == "boolean":
        truth = read_truth(pd.Series(list(categories), dtype=object))
        counted = {"true": 0, "false": 0, "unread": other}
        for value, count in zip(truth.tolist(), categories.values(), strict=True):
            counted["true" if value is True else "false" if value is False else "unread"] += count
        return base | {"kind": "boolean", **counted}
    merged: dict[str, int] = {}
    if categories:
        spelt = normalise_spellings(pa.chunked_array([pa.array(list(categories), pa.string())]))
        for key, count in zip(spelt.to_pylist(), categories.values(), strict=True):
            merged[key] = merged.get(key, 0) + count
    length = float(old.get("mean_length", 0.0))
    return base | {
        "kind": "categorical",
        "categories": merged,
        "other_count": other,
        "length_total": round(length * (rows - nulls)),
    }


def _kept(old: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: old[k] for k in keys if k in old}


def _zone_of(iso: Any) -> str | None:
    if not isinstance(iso, str):
        return None
    stamp = pd.Timestamp(iso)
    return None if stamp.tz is None else str(stamp.tz)


class _Distinct:
    """Exact distinct non-null values of a column, from per-batch uniques compacted as they grow."""

    def __init__(self) -> None:
        self.parts: list[pa.Array] = []
        self.size = 0

    def update(self, values: Values, *, unique: bool = False) -> None:
        """Count ``values`` in; ``unique`` says they are distinct and non-null already."""
        if unique:
            self.parts.append(values)
            self.size += len(values)
            self._compact()
            return
        unique_values = pc.drop_null(pc.unique(values))
        if pa.types.is_floating(unique_values.type):  # NaN is missing, as in pandas
            unique_values = unique_values.filter(pc.invert(pc.is_nan(unique_values)))
        self.parts.append(unique_values)
        self.size += len(unique_values)
        self._compact()

    def _compact(self) -> None:
        if self.size > _COMPACT_AT and len(self.parts) > 1:
            self.parts = [pc.unique(pa.chunked_array(self.parts).combine_chunks())]
            self.size = len(self.parts[0])

    def count(self) -> int:
        if len(self.parts) > 1:
            self.parts = [pc.unique(pa.chunked_array(self.parts).combine_chunks())]
        return len(self.parts[0]) if self.parts else 0


class ColumnScan:
    """One column's type, rules and profile, counted batch by batch."""

    def __init__(
        self, name: str, kind: pa.DataType, *, sample_rate: float, fmt: str | None = None
    ) -> None:
        self.name = name
        self.arrow = kind
        self.rows = 0
        self.profile: ColumnProfile
        self.distinct: _Distinct | None = None
        self.integral = True  # every finite value so far is a whole number below 2**53
        self.raw: CategoricalProfile | None = None  # text: counts by raw spelling
        if pa.types.is_boolean(kind):
            self.profile = BooleanProfile()
        elif pa.types.is_timestamp(kind) or pa.types.is_date(kind):
            self.profile = DatetimeProfile(sample_rate=sample_rate, format=fmt)
        elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
            self.profile = NumericProfile(sample_rate=sample_rate)
            self.distinct = _Distinct()
        else:
            self.raw = CategoricalProfile(type="string", normalise=False)
            self.distinct = _Distinct()
            self.profile = self.raw

    def update(self, values: Values) -> None:
        self.rows += len(values)
        if self.raw is not None:
            distinct = self.raw.count_batch(values)
            if self.distinct is not None:
                self.distinct.update(distinct, unique=True)
            return
        self.profile.update(values)
        if not isinstance(self.profile, NumericProfile) or isinstance(
            self.profile, DatetimeProfile
        ):
            return
        if pa.types.is_floating(self.arrow) and self.integral:
            if isinstance(values, pa.Array):
                numbers = values.to_numpy(zero_copy_only=False)
            else:
                numbers = np.asarray(values.to_numpy())
            finite = numbers[np.isfinite(numbers)]
            self.integral = bool(
                np.all(np.floor(finite) == finite) and np.all(np.abs(finite) < 2**53)
            )
        if self.distinct is not None and not self.integral and self._mostly_distinct(values):
            self.distinct = None  # measurements: all different, and costly to keep
        if self.distinct is not None:
            self.distinct.update(values)
            if not self.integral and self.distinct.size > FLOAT_DISTINCT_CAP:
                self.distinct = None

    @staticmethod
    def _mostly_distinct(values: Values) -> bool:
        """A cheap look at the first values before hashing a whole batch of fractions."""
        probe = values.slice(0, _PROBE)
        return len(probe) == _PROBE and pc.count_distinct(probe).as_py() > _PROBE // 2

    def _type(self) -> ColumnType:
        if isinstance(self.profile, BooleanProfile):
            return "boolean"
        if isinstance(self.profile, DatetimeProfile):
            return "datetime"
        if not isinstance(self.profile, NumericProfile):
            raise TypeError(f"a {type(self.profile).__name__} has no number type")
        if pa.types.is_integer(self.arrow):
            return "integer"
        return "integer" if self.integral and self.profile.finite else "float"

    def finish(self) -> tuple[ColumnSchema, ColumnProfile, int | None]:
        distinct = None if self.distinct is None else self.distinct.count()
        if self.raw is not None:
            return self._finish_text(distinct or 0)
        kind = self._type()
        profile = self.profile
        column = ColumnSchema(
            name=self.name,
            type=kind,
            nullable=profile.nulls > 0,
            max_null_rate=inferred_null_limit(profile.nulls, profile.rows),
        )
        if isinstance(profile, DatetimeProfile):
            column.format = profile.format
        if isinstance(profile, BooleanProfile):
            distinct = int(profile.true > 0) + int(profile.false > 0)
        elif isinstance(profile, NumericProfile) and not isinstance(profile, DatetimeProfile):
            profile.type = kind
            never_negative = profile.neginf == 0 and (profile.min is None or profile.min >= 0)
            if never_negative and profile.count:
                column.min = 0
            if (
                kind == "integer"
                and profile.nulls == 0
                and profile.rows >= MIN_ROWS_FOR_UNIQUE
                and distinct == profile.rows
            ):
                column.unique = True
        return column, profile, distinct

    def _finish_text(self, distinct: int) -> tuple[ColumnSchema, ColumnProfile, int | None]:
        raw = self.raw
        if raw is None:
            raise TypeError("only a text column's scan has spellings to finish")
        listed = None
        if distinct <= MAX_CATEGORIES and not raw.other:
            listed = sorted(raw.counts.items(), key=lambda item: -item[1])
        text = TextColumn(pa.chunked_array([], pa.string()), raw.rows, raw.nulls, distinct, listed)
        column = infer_text_column(self.name, text)
        profile: ColumnProfile
        if column.type == "boolean":
            truth = BooleanProfile.from_counts(raw)
            return column, truth, int(truth.true > 0) + int(truth.false > 0)
        else:
            profile = CategoricalProfile.from_counts(raw, type_=column.type)
        return column, profile, distinct


class TableScan:
    """Every column of a table, counted from its batches in one pass."""

    def __init__(self, schema: pa.Schema, *, sample_rate: float = 1.0) -> None:
        self.rows = 0
        self.columns = [
            ColumnScan(f.name, f.type, sample_rate=sample_rate, fmt=field_format(f)) for f in schema
        ]

    def update(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.rows += batch.num_rows
        for index, scan in enumerate(self.columns):
            scan.update(batch.column(index))

    def finish(self) -> tuple[Schema, DatasetProfile]:
        schemas, profiles, distinct = [], {}, {}
        for scan in self.columns:
            column, profile, count = scan.finish()
            schemas.append(column)
            profiles[column.name] = profile
            distinct[column.name] = count
        return Schema(columns=schemas), DatasetProfile(self.rows, profiles, distinct)


def frame_table(table: pa.Table) -> pa.Table:
    """The table's columns as ``to_pandas`` makes the frame's: without the columns pandas
    metadata restores as the index (a frame written with ``df.to_parquet`` and a named index)."""
    metadata = table.schema.pandas_metadata or {}
    index = [c for c in metadata.get("index_columns", []) if isinstance(c, str)]
    keep = [name for name in table.column_names if name not in index]
    return table.select(keep) if len(keep) != table.num_columns else table


def infer_and_profile(
    source: pa.Table | Iterable[pa.RecordBatch],
    schema: pa.Schema | None = None,
    *,
    sample_rate: float = 1.0,
) -> tuple[Schema, DatasetProfile]:
    """The inferred schema and the profile of a table, or of batches with the Arrow ``schema``.

    A whole table is counted column by column in one update, so histogram edges span each
    column's full range; batches fix the edges by the first batch (with open bins either side).
    """
    if isinstance(source, pa.Table):
        table = frame_table(source)
        scan = TableScan(table.schema, sample_rate=sample_rate)
        scan.update(table)
        return scan.finish()
    if schema is None:
        raise ValueError("profiling record batches needs their Arrow schema: pass schema=")
    scan = TableScan(schema, sample_rate=sample_rate)
    for batch in source:
        scan.update(batch)
    return scan.finish()


# Values per column a big file's quantile sketches are fed (a uniform sample of them): the
# sampling adds ~0.002 to the sketch's own rank error of ~0.013 (see NumericProfile.rank_error).
SKETCH_VALUES = 1_000_000


def sketch_rate(size_bytes: int, columns: int) -> float:
    """The sample rate that feeds about ``SKETCH_VALUES`` values a column to each sketch,
    estimating the rows from the file size (a number takes at least ~8 bytes with its comma)."""
    rows = size_bytes / (8 * max(columns, 1))
    return min(1.0, SKETCH_VALUES / rows) if rows else 1.0


def profile_frame(frame: pd.DataFrame) -> DatasetProfile:
    """The profile of a pandas frame (tests and notebooks): the same code, through Arrow."""
    return infer_and_profile(pa.Table.from_pandas(frame, preserve_index=False))[1]
