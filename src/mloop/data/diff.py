"""What changed between two dataset versions: columns, rules, and per-column statistics."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mloop.data.datasets import DatasetVersion

RULE_FIELDS = ("type", "nullable", "min", "max", "allowed", "unique")
NUMERIC_STATS = ("mean", "std", "min", "max", "null_rate")


@dataclass(frozen=True)
class ColumnChange:
    column: str
    field: str
    before: Any
    after: Any
    change: float | None = None


@dataclass(frozen=True)
class DatasetDiff:
    a: str
    b: str
    rows: tuple[int, int]
    added_columns: list[str] = field(default_factory=list)
    removed_columns: list[str] = field(default_factory=list)
    schema_changes: list[ColumnChange] = field(default_factory=list)
    stat_changes: list[ColumnChange] = field(default_factory=list)
    category_changes: list[ColumnChange] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.a == self.b


def _relative(before: Any, after: Any) -> float | None:
    if (
        isinstance(before, int | float)
        and isinstance(after, int | float)
        and before not in (0, 0.0)
    ):
        return float((after - before) / abs(before))
    return None


def diff_versions(a: DatasetVersion, b: DatasetVersion) -> DatasetDiff:
    cols_a = {c.name: c for c in a.schema.columns}
    cols_b = {c.name: c for c in b.schema.columns}
    result = DatasetDiff(
        a=a.ref,
        b=b.ref,
        rows=(a.row_count, b.row_count),
        added_columns=[n for n in cols_b if n not in cols_a],
        removed_columns=[n for n in cols_a if n not in cols_b],
    )
    profile_a, profile_b = a.profile.get("columns", {}), b.profile.get("columns", {})
    for name in (n for n in cols_a if n in cols_b):
        before, after = cols_a[name].model_dump(), cols_b[name].model_dump()
        for key in RULE_FIELDS:
            if before[key] != after[key]:
                result.schema_changes.append(ColumnChange(name, key, before[key], after[key]))
        stats_a, stats_b = profile_a.get(name, {}), profile_b.get(name, {})
        for key in NUMERIC_STATS:
            if key in stats_a and key in stats_b and stats_a[key] != stats_b[key]:
                result.stat_changes.append(
                    ColumnChange(
                        name, key, stats_a[key], stats_b[key], _relative(stats_a[key], stats_b[key])
                    )
                )
        cats_a, cats_b = stats_a.get("categories"), stats_b.get("categories")
        if cats_a is not None and cats_b is not None:
            total_a, total_b = max(sum(cats_a.values()), 1), max(sum(cats_b.values()), 1)
            for category in sorted(set(cats_a) | set(cats_b)):
                share_a, share_b = (
                    cats_a.get(category, 0) / total_a,
                    cats_b.get(category, 0) / total_b,
                )
                if abs(share_a - share_b) >= 0.01 or (category in cats_a) != (category in cats_b):
                    result.category_changes.append(
                        ColumnChange(
                            name,
                            category,
                            round(share_a, 4),
                            round(share_b, 4),
                            round(share_b - share_a, 4),
                        )
                    )
    return result
