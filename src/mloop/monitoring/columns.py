"""One column's drift: align the two sides, run the chosen method, explain the verdict.

Also what is reported beside the verdict: the null rates of both sides (a jump is flagged when
the current rate is at least ``NULL_JUMP`` higher and the rise is beyond sampling noise), and
categories the reference never saw (only when the reference's category list is complete: a
stored profile keeps its 50 most frequent categories, and the rest are counted as "other").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from mloop.data.profile_columns import (
    BooleanProfile,
    CategoricalProfile,
    ColumnProfile,
    DatetimeProfile,
    NumericProfile,
)
from mloop.errors import InvalidInput
from mloop.monitoring import explain, methods
from mloop.monitoring.methods import NumericSide, Outcome

NULL_JUMP = 0.05  # the rise in a column's null rate reported on its own
NULL_NOISE_Z = 3.0  # ... when also this many standard errors above sampling noise
EXACT_ROWS = 100_000  # a side read from rows keeps its values (exact tests) up to this many rows
NEW_SHOWN = 10  # unseen categories listed per column (the most frequent; the count says all)
OTHER = "(other)"
TEXT_CATEGORIES = 1000  # text with at most this many distinct values is compared as categories


@dataclass(frozen=True)
class ColumnDrift:
    """One column's verdict; ``to_json`` is the documented shape."""

    column: str
    kind: str
    method: str
    score: float
    threshold: float
    p_value: float | None
    drifted: bool
    explanation: str
    statistic: float | None = None
    weight: float = 1.0
    rows: dict[str, int] = field(default_factory=dict)
    null_rate: dict[str, float] = field(default_factory=dict)
    null_rate_jump: bool = False
    new_categories: list[dict[str, Any]] = field(default_factory=list)
    new_category_rows: int = 0
    # What the two sides look like, for charts (not in the JSON): numbers as
    # ("bins", edges with -inf/+inf outside, reference counts, current counts), categories as
    # ("categories", labels, reference counts, current counts).
    distribution: tuple[str, list[Any], list[float], list[float]] | None = field(
        default=None, compare=False, repr=False
    )

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "kind": self.kind,
            "method": self.method,
            "score": _finite(self.score),
            "threshold": self.threshold,
            "p_value": None if self.p_value is None else _finite(self.p_value),
            "drifted": self.drifted,
            "explanation": self.explanation,
            "statistic": None if self.statistic is None else _finite(self.statistic),
            "weight": self.weight,
            "rows": dict(self.rows),
            "null_rate": dict(self.null_rate),
            "null_rate_jump": self.null_rate_jump,
            "new_categories": list(self.new_categories),
            "new_category_rows": self.new_category_rows,
        }


def _finite(value: float) -> float:
    """Six significant figures (a p-value of 2e-119 stays 2e-119); JSON has no infinity."""
    return float(f"{value:.6g}") if math.isfinite(value) else 1e308


def kind_of(profile: ColumnProfile, distinct: int | None = None) -> str | None:
    """``numeric``, ``datetime``, ``categorical``, ``boolean``; ``None`` for free text.

    Text with too many values to be a schema category (a city, a product code) is still
    compared as categories when its ``distinct`` count is known, at most ``TEXT_CATEGORIES``
    and at most half its values (an id or a sentence repeats nothing worth comparing).
    """
    if isinstance(profile, DatetimeProfile):
        return "datetime"
    if isinstance(profile, NumericProfile):
        return "numeric"
    if isinstance(profile, BooleanProfile):
        return "boolean"
    if isinstance(profile, CategoricalProfile):
        if profile.type != "string":
            return "categorical"
        if (
            distinct is not None
            and 0 < distinct <= TEXT_CATEGORIES
            and distinct * 2 <= profile.count
        ):
            return "categorical"
    return None


def numeric_side(profile: NumericProfile, column: pa.ChunkedArray | None) -> NumericSide:
    if column is None or len(column) > EXACT_ROWS:
        return NumericSide(profile)
    numbers, _ = profile.like()._numbers(column)
    finite = numbers[np.isfinite(numbers)]
    return NumericSide(profile, np.sort(finite))


def null_jump(reference: ColumnProfile, current: ColumnProfile) -> bool:
    r, c = reference.null_rate, current.null_rate
    if c - r < NULL_JUMP or not reference.rows or not current.rows:
        return False
    pooled = (reference.nulls + current.nulls) / (reference.rows + current.rows)
    noise = math.sqrt(pooled * (1 - pooled) * (1 / reference.rows + 1 / current.rows))
    return c - r > NULL_NOISE_Z * noise


def category_counts(
    reference: CategoricalProfile | BooleanProfile, current: CategoricalProfile | BooleanProfile
) -> tuple[list[str], np.ndarray, np.ndarray, list[tuple[str, int]]]:
    """Labels, both sides' counts on them, and the current's categories the reference lacks.

    A reference with an "other" bucket (categories beyond those it lists) compares its listed
    categories plus "(other)", and the current's unlisted ones fall into "(other)" too.
    """
    if isinstance(reference, BooleanProfile) and isinstance(current, BooleanProfile):
        labels = ["true", "false"]
        r = [reference.true, reference.false]
        c = [current.true, current.false]
        if reference.unread or current.unread:
            labels.append("unreadable")
            r.append(reference.unread)
            c.append(current.unread)
        return labels, np.array(r, float), np.array(c, float), []
    if not isinstance(reference, CategoricalProfile) or not isinstance(current, CategoricalProfile):
        raise TypeError("category counts need two categorical or two boolean profiles")
    known = sorted(reference.counts, key=lambda k: (-reference.counts[k], k))
    complete = reference.other == 0
    unseen = sorted(
        ((k, v) for k, v in current.counts.items() if k not in reference.counts),
        key=lambda kv: (-kv[1], kv[0]),
    )
    labels = list(known)
    ref_counts = [reference.counts[k] for k in known]
    cur_counts = [current.counts.get(k, 0) for k in known]
    other_current = current.other
    if complete:
        labels += [k for k, _ in unseen]
        ref_counts += [0] * len(unseen)
        cur_counts += [v for _, v in unseen]
    else:
        other_current += sum(v for _, v in unseen)
    if reference.other or other_current:
        labels.append(OTHER)
        ref_counts.append(reference.other)
        cur_counts.append(other_current)
    return (
        labels,
        np.array(ref_counts, float),
        np.array(cur_counts, float),
        unseen if complete else [],
    )


def _binned(method: str, reference: np.ndarray, current: np.ndarray) -> Outcome:
    if method == "psi":
        return methods.psi(reference, current)
    if method == "jensenshannon":
        return methods.jensenshannon(reference, current)
    if method == "chisquare":
        return methods.chisquare(reference, current)
    raise InvalidInput(f"method {method!r} does not apply to counts")


def evaluate(
    name: str,
    reference: ColumnProfile,
    current: ColumnProfile,
    *,
    method: str | None,
    threshold: float | None,
    weight: float,
    distinct: int | None = None,
    reference_values: pa.ChunkedArray | None = None,
    current_values: pa.ChunkedArray | None = None,
) -> ColumnDrift | str:
    """The column's verdict, or a sentence saying why it was not compared."""
    kind = kind_of(reference, distinct)
    if reference.count == 0 or current.count == 0:
        side = "reference" if reference.count == 0 else "current"
        return f"no values in the {side} data"
    if kind is None:
        return "free text: its values are not compared as categories"
    # the current side's own type may say free text (few rows of a wide column): the reference's
    # reading decides, as long as both hold text
    text_both = kind == "categorical" and isinstance(current, CategoricalProfile)
    current_kind = kind if text_both else kind_of(current)
    if current_kind != kind:
        return f"{kind} in the reference but {current_kind or 'text'} in the current data"
    if (
        method is not None
        and method in methods.NUMERIC_ONLY
        and kind not in ("numeric", "datetime")
    ):
        raise InvalidInput(
            f"Method {method!r} compares numbers, but column {name!r} is {kind}; "
            "choose chisquare, psi or jensenshannon for it."
        )
    labels: list[str] = []
    unseen: list[tuple[str, int]] = []
    picture: tuple[str, list[Any], list[float], list[float]]
    if isinstance(reference, NumericProfile) and isinstance(current, NumericProfile):
        ref_side = numeric_side(reference, reference_values)
        cur_side = numeric_side(current, current_values)
        chosen = method or methods.default_method(kind, min(ref_side.n, cur_side.n))
        if chosen == "ks":
            outcome = methods.ks(ref_side, cur_side)
        elif chosen == "wasserstein":
            outcome = methods.wasserstein(ref_side, cur_side)
        else:
            edges = reference.edges if reference.edges is not None else np.array([0.0, 1.0])
            outcome = _binned(chosen, ref_side.bins(edges), cur_side.bins(edges))
        picture_edges = reference.edges if reference.edges is not None else np.array([0.0, 1.0])
        picture = (
            "bins",
            [-math.inf, *picture_edges.tolist(), math.inf],
            ref_side.bins(picture_edges).tolist(),
            cur_side.bins(picture_edges).tolist(),
        )
        tz = reference.tz if isinstance(reference, DatetimeProfile) else None
        half = np.array([0.5])
        change = explain.numeric_change(
            float(ref_side.quantiles(half)[0]),
            float(cur_side.quantiles(half)[0]),
            tz,
            datetime=kind == "datetime",
            spread=(reference.std, current.std),
        )
        counted = {"reference": ref_side.n, "current": cur_side.n}
    elif isinstance(reference, CategoricalProfile | BooleanProfile) and isinstance(
        current, CategoricalProfile | BooleanProfile
    ):
        labels, ref_counts, cur_counts, unseen = category_counts(reference, current)
        chosen = method or methods.default_method(
            kind, int(min(ref_counts.sum(), cur_counts.sum()))
        )
        outcome = _binned(chosen, ref_counts, cur_counts)
        change = explain.share_change(labels, ref_counts, cur_counts)
        counted = {"reference": int(ref_counts.sum()), "current": int(cur_counts.sum())}
        picture = ("categories", list(labels), ref_counts.tolist(), cur_counts.tolist())
    else:
        return "the two sides hold different kinds of values"
    limit = methods.DEFAULT_THRESHOLDS[chosen] if threshold is None else threshold
    drifted = methods.is_drift(chosen, outcome.score, limit)
    line = f"{name}: {change}, {explain.verdict(chosen, outcome.score, limit, outcome.statistic)}"
    total = current.count or 1
    return ColumnDrift(
        column=name,
        kind=kind,
        method=chosen,
        score=outcome.score,
        threshold=limit,
        p_value=outcome.p_value,
        drifted=drifted,
        explanation=line,
        statistic=outcome.statistic,
        weight=weight,
        rows=counted,
        null_rate={"reference": reference.null_rate, "current": current.null_rate},
        null_rate_jump=null_jump(reference, current),
        new_categories=[
            {"value": k, "count": v, "share": round(v / total, 6)} for k, v in unseen[:NEW_SHOWN]
        ],
        new_category_rows=sum(v for _, v in unseen),
        distribution=picture,
    )
