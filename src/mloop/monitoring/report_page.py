"""The report's page model: what an HTML report shows, with no knowledge of where it came from.

Drift, the monitor and anything later map their own results onto these few types (a summary, a
verdict, sections of column comparisons, time-series charts and tables) and hand the page to
:func:`mloop.monitoring.report.render_html`. Keeping the model neutral means one renderer, one
look and one escaping rule for every report, and a new figure is a mapping, not a template.

Values are plain data: counts may be lists or numpy arrays (they are copied to tuples of floats),
times are ``datetime`` (naive ones are read as UTC), missing values are ``None`` or NaN. A shape
that cannot be drawn (edges and counts of different lengths, an unknown verdict) is refused with
:class:`~mloop.errors.InvalidInput` when the object is built, so a report never fails half-written.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from mloop.errors import InvalidInput

Verdict: TypeAlias = Literal["ok", "alert"]
Direction: TypeAlias = Literal["<=", ">=", "<", ">"]
Cell: TypeAlias = str | int | float | bool | dt.datetime | dt.date | None

VERDICTS: tuple[str, ...] = ("ok", "alert")
DIRECTIONS: tuple[str, ...] = ("<=", ">=", "<", ">")


def _floats(values: npt.ArrayLike, what: str) -> tuple[float, ...]:
    try:
        array = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} must be numbers; got {values!r:.80}.") from exc
    return tuple(array.tolist())


def _counts(values: npt.ArrayLike, what: str) -> tuple[float, ...]:
    counts = _floats(values, what)
    if any(not math.isfinite(c) or c < 0 for c in counts):
        raise InvalidInput(f"{what} must be finite and non-negative counts or shares.")
    return counts


@dataclass(frozen=True)
class NumericDistribution:
    """Reference and current histograms on shared bin edges (``len(edges) == bins + 1``).

    Counts or shares both work: each side is normalised to shares when drawn, so windows of
    different sizes compare. Outer edges may be infinite (open-ended bins for values outside
    the reference's range); they are drawn one bin wide and labelled ``< x`` / ``≥ y``.
    """

    edges: npt.ArrayLike
    reference: npt.ArrayLike
    current: npt.ArrayLike
    # "datetime": the edges are UTC epoch nanoseconds (as profiles keep them), drawn as dates
    unit: Literal["number", "datetime"] = "number"

    def __post_init__(self) -> None:
        if self.unit not in ("number", "datetime"):
            raise InvalidInput(f"A histogram's unit is 'number' or 'datetime', not {self.unit!r}.")
        edges = _floats(self.edges, "Histogram edges")
        reference = _counts(self.reference, "Reference histogram counts")
        current = _counts(self.current, "Current histogram counts")
        if len(edges) < 2 or len(reference) != len(edges) - 1 or len(current) != len(edges) - 1:
            raise InvalidInput(
                f"A histogram needs one more edge than counts on each side; got {len(edges)} "
                f"edges, {len(reference)} reference and {len(current)} current counts."
            )
        if any(math.isnan(e) for e in edges) or any(b < a for a, b in itertools.pairwise(edges)):
            raise InvalidInput("Histogram edges must be increasing numbers (NaN is not an edge).")
        if not all(math.isfinite(e) for e in edges[1:-1]):
            raise InvalidInput("Only the outermost histogram edges may be infinite.")
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "reference", reference)
        object.__setattr__(self, "current", current)


@dataclass(frozen=True)
class CategoricalDistribution:
    """Reference and current counts (or shares) per category, categorical or boolean columns.

    Categories are shown as text, in the order given; long tails are folded into one "other"
    bar when drawn. A category seen only in the current window is marked new.
    """

    categories: Sequence[str]
    reference: npt.ArrayLike
    current: npt.ArrayLike

    def __post_init__(self) -> None:
        categories = tuple(str(c) for c in self.categories)
        reference = _counts(self.reference, "Reference category counts")
        current = _counts(self.current, "Current category counts")
        if not (len(categories) == len(reference) == len(current)):
            raise InvalidInput(
                f"Category shares need one count per category on each side; got "
                f"{len(categories)} categories, {len(reference)} reference and "
                f"{len(current)} current counts."
            )
        object.__setattr__(self, "categories", categories)
        object.__setattr__(self, "reference", reference)
        object.__setattr__(self, "current", current)


Distribution: TypeAlias = NumericDistribution | CategoricalDistribution


@dataclass(frozen=True)
class ColumnComparison:
    """One column's reference-vs-current picture and its drift verdict.

    ``explanation`` is the one line a person reads ("tenure: median 29 → 18 months, normalised
    Wasserstein 0.41 > 0.1"); ``notes`` hold further lines (a null-rate jump, new categories).
    """

    column: str
    kind: str
    method: str
    score: float | None
    threshold: float | None
    drifted: bool
    explanation: str = ""
    distribution: Distribution | None = None
    p_value: float | None = None
    notes: Sequence[str] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "notes", tuple(self.notes))


@dataclass(frozen=True)
class Threshold:
    """A horizontal line on a chart: values on the ``direction`` side of ``value`` are fine.

    ``direction`` reads as the check it draws: ``">="`` for "roc_auc >= 0.75", so points below
    the line are marked as crossings.
    """

    value: float
    direction: Direction = "<="
    label: str = ""

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise InvalidInput(
                f"A threshold's direction is one of {', '.join(DIRECTIONS)}; got {self.direction!r}."
            )
        if not math.isfinite(self.value):
            raise InvalidInput(f"A threshold must be a finite number; got {self.value!r}.")

    def allows(self, value: float) -> bool:
        """Whether ``value`` is on the allowed side of the line."""
        if self.direction == "<=":
            return value <= self.value
        if self.direction == ">=":
            return value >= self.value
        if self.direction == "<":
            return value < self.value
        return value > self.value


def _utc(when: dt.datetime) -> dt.datetime:
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


@dataclass(frozen=True)
class Series:
    """One line on a time-series chart: ``(time, value)`` points; ``None``, NaN or ±inf is a gap."""

    name: str
    points: Sequence[tuple[dt.datetime, float | None]]
    dashed: bool = False

    def __post_init__(self) -> None:
        points: list[tuple[dt.datetime, float | None]] = []
        for when, value in self.points:
            if not isinstance(when, dt.datetime):
                raise InvalidInput(
                    f"Series {self.name!r}: each point's time must be a datetime; got {when!r}."
                )
            number = None if value is None else float(value)
            points.append(
                (_utc(when), number if number is not None and math.isfinite(number) else None)
            )
        points.sort(key=lambda point: point[0])
        object.__setattr__(self, "points", tuple(points))


@dataclass(frozen=True)
class TimeSeriesChart:
    """A metric over time: one or more series (e.g. estimated and realised) and a threshold."""

    title: str
    series: Sequence[Series]
    threshold: Threshold | None = None
    unit: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "series", tuple(self.series))


@dataclass(frozen=True)
class Table:
    """A table of plain cells (latency per version, alerts and their deliveries).

    ``flagged`` marks rows to highlight (a crossed threshold, a failed delivery), one flag per
    row or empty for none.
    """

    title: str
    header: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    description: str = ""
    flagged: Sequence[bool] = ()

    def __post_init__(self) -> None:
        header = tuple(str(h) for h in self.header)
        rows = tuple(tuple(row) for row in self.rows)
        for number, row in enumerate(rows, start=1):
            if len(row) != len(header):
                raise InvalidInput(
                    f"Table {self.title!r}: row {number} has {len(row)} cells for "
                    f"{len(header)} columns."
                )
        flagged = tuple(bool(f) for f in self.flagged)
        if flagged and len(flagged) != len(rows):
            raise InvalidInput(
                f"Table {self.title!r}: {len(flagged)} row flags for {len(rows)} rows."
            )
        object.__setattr__(self, "header", header)
        object.__setattr__(self, "rows", rows)
        object.__setattr__(self, "flagged", flagged)


Block: TypeAlias = ColumnComparison | TimeSeriesChart | Table


@dataclass(frozen=True)
class Section:
    """A titled group of blocks; column comparisons in a section are laid out as a grid."""

    title: str
    blocks: Sequence[Block]
    intro: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "blocks", tuple(self.blocks))


@dataclass(frozen=True)
class KeyFigure:
    """A headline number under the summary ("Drifted columns: 3 of 25"), flagged when bad."""

    label: str
    value: str
    alert: bool = False


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class ReportPage:
    """A whole report: a title, a verdict, plain-language summary lines, then sections.

    ``context`` lists what was compared, as label/value pairs ("Reference": "churn@3, 10,000
    rows"; "Window": "2026-12-01 00:00 → 2026-12-02 00:00 UTC").
    """

    title: str
    verdict: Verdict
    summary: Sequence[str] = ()
    sections: Sequence[Section] = ()
    figures: Sequence[KeyFigure] = ()
    context: Sequence[tuple[str, str]] = ()
    generated_at: dt.datetime = field(default_factory=_now)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise InvalidInput(f"A report's verdict is 'ok' or 'alert'; got {self.verdict!r}.")
        object.__setattr__(self, "summary", tuple(str(line) for line in self.summary))
        object.__setattr__(self, "sections", tuple(self.sections))
        object.__setattr__(self, "figures", tuple(self.figures))
        object.__setattr__(self, "context", tuple((str(k), str(v)) for k, v in self.context))
        object.__setattr__(self, "generated_at", _utc(self.generated_at))


def column_comparisons(page: ReportPage) -> Iterable[ColumnComparison]:
    """Every column comparison on the page, in order (for counts in a summary or a test)."""
    for section in page.sections:
        for block in section.blocks:
            if isinstance(block, ColumnComparison):
                yield block
