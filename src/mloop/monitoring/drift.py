"""Data drift: each column of a current side against a reference side, and the dataset verdict.

A side is a ``DatasetProfile`` (the mergeable per-column counts of data/profile.py) and, when it
was read from rows, those rows. The reference decides the bins: the current side is counted on
``reference.like()`` in one vectorised pass (``profile_on``), so a stored dataset profile is a
complete reference and training data is never read again.

Each column gets a method (by kind and size unless chosen: methods.default_method), a score, a
threshold and a verdict; the dataset drifts when the (weighted) share of drifted columns is at
least ``drift_share``. Null-rate jumps and unseen categories are reported beside the verdicts.
The JSON shape of ``DriftReport.to_json`` is documented in docs/monitoring.md (## Drift).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from mloop.data.profile import DatasetProfile, infer_and_profile
from mloop.data.profile_columns import (
    BooleanProfile,
    CategoricalProfile,
    ColumnProfile,
    NumericProfile,
)
from mloop.data.refs import did_you_mean, shortlist
from mloop.errors import InvalidInput
from mloop.monitoring import methods
from mloop.monitoring.columns import ColumnDrift, evaluate, kind_of, null_jump

DRIFT_SHARE = 0.5
# Values a column's quantile sketch is fed from a big current side (a uniform sample): the
# sketch costs ~80 ns a value, and 50,000 values add ~0.007 (99% bound) to its rank error,
# a few thousandths of a standard deviation in the normalised Wasserstein distance.
SKETCH_VALUES = 50_000
PREDICTION = "prediction"
PROBA_PREFIX = "proba."


@dataclass(frozen=True)
class Side:
    """What one side of a comparison is: a label for people, a profile, and rows when read."""

    label: str
    profile: DatasetProfile
    table: pa.Table | None = None

    @property
    def rows(self) -> int:
        return self.profile.rows


@dataclass(frozen=True)
class Skipped:
    """A column not compared, and why; a null-rate jump is still reported (a column that is
    all missing now is the biggest jump of all)."""

    column: str
    reason: str
    null_rate: dict[str, float] = field(default_factory=dict)
    null_rate_jump: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "reason": self.reason,
            "null_rate": dict(self.null_rate),
            "null_rate_jump": self.null_rate_jump,
        }


@dataclass(frozen=True)
class DriftReport:
    """Every compared column's verdict and the dataset's; ``to_json`` is the documented shape."""

    reference: str
    current: str
    rows: dict[str, int]
    columns: list[ColumnDrift]
    drift_share_threshold: float = DRIFT_SHARE
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def drifted_columns(self) -> list[str]:
        return [c.column for c in self.columns if c.drifted]

    @property
    def drift_share(self) -> float:
        """The weighted share of compared columns that drifted (0 when none was compared)."""
        total = sum(c.weight for c in self.columns)
        return sum(c.weight for c in self.columns if c.drifted) / total if total else 0.0

    @property
    def dataset_drift(self) -> bool:
        return bool(self.columns) and self.drift_share >= self.drift_share_threshold

    @property
    def null_rate_jumps(self) -> list[str]:
        found = [c.column for c in self.columns if c.null_rate_jump]
        return found + [s.column for s in self.skipped if s.null_rate_jump]

    @property
    def new_categories(self) -> dict[str, list[str]]:
        return {
            c.column: [n["value"] for n in c.new_categories]
            for c in self.columns
            if c.new_categories
        }

    def column(self, name: str) -> ColumnDrift:
        for result in self.columns:
            if result.column == name:
                return result
        raise KeyError(name)

    def to_json(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "current": self.current,
            "rows": dict(self.rows),
            "columns": [c.to_json() for c in self.columns],
            "drifted_columns": self.drifted_columns,
            "drift_share": round(self.drift_share, 6),
            "dataset_drift": self.dataset_drift,
            "drift_share_threshold": self.drift_share_threshold,
            "null_rate_jumps": self.null_rate_jumps,
            "new_categories": self.new_categories,
            "skipped": [s.to_json() for s in self.skipped],
        }


@dataclass(frozen=True)
class ColumnMethod:
    """A per-column choice: ``COL=METHOD`` or ``COL=METHOD:THRESHOLD`` (``*`` for every column)."""

    method: str
    threshold: float | None = None

    @classmethod
    def parse(cls, text: str) -> ColumnMethod:
        name, _, limit = text.partition(":")
        name = name.strip().lower()
        if name not in methods.METHODS:
            raise InvalidInput(
                f"Unknown drift method {name!r}; methods are {', '.join(methods.METHODS)}."
            )
        threshold = None
        if limit:
            try:
                threshold = float(limit)
            except ValueError:
                raise InvalidInput(
                    f"Threshold {limit!r} for {name} is not a number; write e.g. {name}:0.2."
                ) from None
            if not threshold > 0:
                raise InvalidInput(f"Threshold {limit!r} for {name} must be above 0.")
        return cls(name, threshold)


def parse_column_methods(options: Sequence[str]) -> dict[str, ColumnMethod]:
    """``--column-method`` options (``COL=METHOD[:THRESHOLD]``) as a mapping."""
    chosen: dict[str, ColumnMethod] = {}
    for option in options:
        column, sep, spec = option.partition("=")
        if not sep or not column.strip() or not spec.strip():
            raise InvalidInput(
                f"--column-method {option!r} is not COL=METHOD; write e.g. tenure=psi "
                "or tenure=psi:0.2 (* for every column)."
            )
        chosen[column.strip()] = ColumnMethod.parse(spec)
    return chosen


def _as_choice(value: str | ColumnMethod) -> ColumnMethod:
    return value if isinstance(value, ColumnMethod) else ColumnMethod.parse(value)


def profile_on(
    reference: DatasetProfile, table: pa.Table, *, sketch_values: int | None = SKETCH_VALUES
) -> DatasetProfile:
    """``table`` counted on the reference's bins in one vectorised pass (its other columns are
    left out). A big table feeds each quantile sketch a uniform sample of ``sketch_values``
    values (``None``: every value, so the profile merges with the reference's like windows)."""
    kept = {n: c for n, c in reference.columns.items() if n in table.column_names}
    # free text (ids, sentences) is never compared: its nulls are counted, its values are not
    # (a million distinct ids cost more than every other column together)
    free = {n for n, c in kept.items() if kind_of(c, reference.distinct.get(n)) is None}
    profile = DatasetProfile(reference.rows, {n: c for n, c in kept.items() if n not in free})
    profile = profile.like()
    if sketch_values is not None and table.num_rows > sketch_values:
        rate = sketch_values / table.num_rows
        for column in profile.columns.values():
            if isinstance(column, NumericProfile):
                column.sample_rate = rate
    profile.update(table)
    for name in free:
        nulls = kept[name].like()
        nulls.rows, nulls.nulls = table.num_rows, table.column(name).null_count
        profile.columns[name] = nulls
    return profile


def as_table(data: pa.Table | pd.DataFrame) -> pa.Table:
    if isinstance(data, pd.DataFrame):
        return pa.Table.from_pandas(data, preserve_index=False)
    return data


def reference_side(data: Side | DatasetProfile | pa.Table | pd.DataFrame, label: str) -> Side:
    if isinstance(data, Side):
        return data
    if isinstance(data, DatasetProfile):
        return Side(label, data)
    table = as_table(data)
    return Side(label, infer_and_profile(table)[1], table)


def current_side(
    data: Side | DatasetProfile | pa.Table | pd.DataFrame, reference: Side, label: str
) -> Side:
    if isinstance(data, Side):
        return data
    if isinstance(data, DatasetProfile):
        return Side(label, data)
    table = as_table(data)
    return Side(label, profile_on(reference.profile, table), table)


def _column_values(side: Side, name: str) -> pa.ChunkedArray | None:
    if side.table is None or name not in side.table.column_names:
        return None
    return side.table.column(name)


def _check_names(names: Sequence[str], known: Mapping[str, Any], what: str) -> None:
    unknown = [n for n in names if n != "*" and n not in known]
    if unknown:
        hint = did_you_mean(unknown[0], list(known))
        raise InvalidInput(
            f"{what} {unknown[0]!r} is not a column of the reference; "
            + (hint or f"its columns are {shortlist(list(known))}.")
        )


def compare(
    reference: Side,
    current: Side,
    *,
    column_methods: Mapping[str, str | ColumnMethod] | None = None,
    drift_share: float = DRIFT_SHARE,
    weights: Mapping[str, float] | None = None,
    columns: Sequence[str] | None = None,
) -> DriftReport:
    """Every column of ``reference`` that ``current`` also has, compared; raises ``InvalidInput``
    for an unknown method or column, a share outside (0, 1] or a negative weight.

    ``weights`` (e.g. feature importances) weigh each column in the dataset share; columns they
    do not name weigh 0. ``columns`` limits the comparison to those names.
    """
    if not 0 < drift_share <= 1:
        raise InvalidInput(f"The drift share {drift_share} must be above 0 and at most 1.")
    known = reference.profile.columns
    choices = {k: _as_choice(v) for k, v in (column_methods or {}).items()}
    _check_names(list(choices), known, "The column-method column")
    _check_names(list(columns or []), known, "Column")
    _check_names(list(weights or {}), known, "Weighted column")
    if weights is not None and any(w < 0 for w in weights.values()):
        raise InvalidInput("Column weights must be 0 or more (e.g. feature importances).")
    if weights is not None and not any(w > 0 for w in weights.values()):
        raise InvalidInput("At least one column weight must be above 0.")
    results: list[ColumnDrift] = []
    skipped: list[Skipped] = []
    for name, ref_profile in known.items():
        if columns is not None and name not in columns:
            continue
        cur_profile = current.profile.columns.get(name)
        if cur_profile is None:
            skipped.append(Skipped(name, "not in the current data"))
            continue
        choice = choices.get(name) or choices.get("*")
        outcome = evaluate(
            name,
            ref_profile,
            cur_profile,
            method=None if choice is None else choice.method,
            threshold=None if choice is None else choice.threshold,
            weight=1.0 if weights is None else float(weights.get(name, 0.0)),
            distinct=reference.profile.distinct.get(name),
            reference_values=_column_values(reference, name),
            current_values=_column_values(current, name),
        )
        if isinstance(outcome, str):
            rates = {"reference": ref_profile.null_rate, "current": cur_profile.null_rate}
            skipped.append(Skipped(name, outcome, rates, null_jump(ref_profile, cur_profile)))
        else:
            results.append(outcome)
    return DriftReport(
        reference=reference.label,
        current=current.label,
        rows={"reference": reference.rows, "current": current.rows},
        columns=results,
        drift_share_threshold=drift_share,
        skipped=skipped,
    )


def drift(
    reference: Side | DatasetProfile | pa.Table | pd.DataFrame,
    current: Side | DatasetProfile | pa.Table | pd.DataFrame,
    **options: Any,
) -> DriftReport:
    """``compare`` for sides given as profiles, Arrow tables or pandas frames."""
    ref = reference_side(reference, "reference")
    return compare(ref, current_side(current, ref, "current"), **options)


# ---- prediction drift -------------------------------------------------------------------------


def prediction_columns(table: pa.Table) -> list[str]:
    """``prediction`` and the ``proba.<class>`` columns of a log table."""
    names = [PREDICTION] if PREDICTION in table.column_names else []
    return names + sorted(n for n in table.column_names if n.startswith(PROBA_PREFIX))


def _prediction_profile(table: pa.Table, names: list[str], classes: bool) -> DatasetProfile:
    profiles: dict[str, ColumnProfile] = {}
    for name in names:
        values = table.column(name)
        if name == PREDICTION and classes:
            if pa.types.is_boolean(values.type):
                profiles[name] = BooleanProfile().update(values)
            else:
                profiles[name] = CategoricalProfile().update(values)
        else:
            profiles[name] = NumericProfile().update(values)
    return DatasetProfile(table.num_rows, profiles)


def prediction_drift(
    reference: pa.Table | pd.DataFrame,
    current: pa.Table | pd.DataFrame,
    *,
    reference_label: str = "reference",
    current_label: str = "current",
    **options: Any,
) -> DriftReport:
    """Drift of what a model answered: predicted classes (or values) and class probabilities.

    Both tables hold the log's ``prediction`` and ``proba.<class>`` columns. Predictions are
    classes (compared as categories) when either side has probabilities or the predictions are
    text or booleans; otherwise values (compared as numbers). Options as ``compare``.
    """
    ref_table, cur_table = as_table(reference), as_table(current)
    names = [n for n in prediction_columns(ref_table) if n in cur_table.column_names]
    if not names:
        raise InvalidInput(
            "Neither side has a prediction or proba.<class> column to compare; pass log windows."
        )
    probas = any(n.startswith(PROBA_PREFIX) for n in names)
    prediction_type = ref_table.schema.field(PREDICTION).type if PREDICTION in names else None
    classes = probas or (
        prediction_type is not None
        and not (pa.types.is_integer(prediction_type) or pa.types.is_floating(prediction_type))
    )
    ref_profile = _prediction_profile(ref_table, names, classes)
    ref_side = Side(reference_label, ref_profile, ref_table.select(names))
    cur_profile = ref_profile.like().update(cur_table.select(names))
    cur_side = Side(current_label, cur_profile, cur_table.select(names))
    return compare(ref_side, cur_side, **options)
