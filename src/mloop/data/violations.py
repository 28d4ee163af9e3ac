"""What a validation finds, in the two shapes its readers need.

``FieldError`` is one bad value (row, column, rule, value, message): what a serving 422 lists and
what the row and batch validators must agree on exactly. ``ValidationReport`` counts them per
column and rule with a few example rows, which is what a person reads after ``data validate``.
Rows are 1-based data rows (row 1 is the first line after a header, or the first record); a
rule about the whole column (``required``) has no row.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from mloop.plural import plural

Severity = Literal["error", "warning"]
MAX_EXAMPLES = 5


def plain(value: Any) -> Any:
    """A bad value as reports show it: JSON-ready, dates as ISO text, NaN as missing."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        return plain(value.item())
    return value


@dataclass(frozen=True, slots=True)
class FieldError:
    row: int | None
    column: str
    rule: str
    value: Any
    message: str


@dataclass(frozen=True)
class Violations:
    """Every bad value of a batch of records: errors fail the batch, warnings are reported only."""

    errors: list[FieldError] = field(default_factory=list)
    warnings: list[FieldError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Violation:
    """One rule broken in one column: how often, where first, and with which values."""

    column: str
    rule: str
    count: int
    examples: list[int]
    message: str
    values: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ValidationReport:
    rows_checked: int
    violations: list[Violation]
    warnings: list[Violation] = field(default_factory=list)
    empty_rows: int = 0  # a CSV's rows with no value, left out (not in rows_checked)
    # Columns of the data the schema does not name: no rule checks them, and a column added since
    # the schema was written is not a violation (only a missing required one is), but a reader
    # told "no violations" would otherwise never learn the rules skipped it.
    new_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def renumbered(self, rows: Callable[[np.ndarray], np.ndarray]) -> ValidationReport:
        """The report with its example rows as ``rows`` numbers them: the table checked may
        have left rows of the user's file out, and a row named must be the file's."""

        def each(found: list[Violation]) -> list[Violation]:
            return [
                replace(v, examples=rows(np.array(v.examples, dtype=np.int64)).tolist())
                for v in found
            ]

        return replace(self, violations=each(self.violations), warnings=each(self.warnings))

    def __repr__(self) -> str:
        found = "ok" if self.ok else plural(len(self.violations), "violation")
        warned = f", {plural(len(self.warnings), 'warning')}" if self.warnings else ""
        return f"ValidationReport({found}{warned}, {plural(self.rows_checked, 'row')} checked)"


def summarise(found: Violations, rows: int) -> ValidationReport:
    """The report of per-row errors: one entry per (column, rule) in order of first appearance."""

    def grouped(errors: list[FieldError]) -> list[Violation]:
        groups: dict[tuple[str, str], list[FieldError]] = {}
        for error in errors:
            groups.setdefault((error.column, error.rule), []).append(error)
        out = []
        for (column, rule), members in groups.items():
            listed = [e for e in members if e.row is not None][:MAX_EXAMPLES]
            count = rows if members[0].row is None else len(members)
            out.append(
                Violation(
                    column,
                    rule,
                    count,
                    [e.row for e in listed if e.row is not None],
                    members[0].message,
                    [e.value for e in listed],
                )
            )
        return out

    return ValidationReport(rows, grouped(found.errors), grouped(found.warnings))
