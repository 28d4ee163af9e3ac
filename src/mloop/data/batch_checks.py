"""The batch validator: an Arrow table checked column by column with Arrow compute, no Python
loop over rows, the same rules and the same ``FieldError``s as the row validator.

Each rule yields the 0-based rows that break it; the report counts them and lists examples, and
``table_errors`` turns them into one ``FieldError`` per bad value when a caller needs them all.
Duplicate rows are found by hashing every row to one 64-bit code built from per-column codes
(the values' own bits for numbers, dictionary codes for text), then confirmed value by value.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from mloop.data.compiled import (
    DUPLICATE_ROWS,
    MIN_ROWS_FOR_RATES,
    NUMBER_TEXT,
    CompiledColumn,
)
from mloop.data.dates import read_instants
from mloop.data.io import to_pandas
from mloop.data.schema import TRUTH_STRINGS, utc_instants
from mloop.data.violations import (
    MAX_EXAMPLES,
    FieldError,
    Severity,
    ValidationReport,
    Violation,
    Violations,
    plain,
)

if TYPE_CHECKING:
    from mloop.data.compiled import CompiledSchema

Column: TypeAlias = pa.ChunkedArray | pa.Array
TRUTH_SET = pa.array(sorted(TRUTH_STRINGS))
_MIX = np.uint64(0x9E3779B97F4A7C15)
_INTS = {8: pa.int8(), 16: pa.int16(), 32: pa.int32(), 64: pa.int64()}
FEW_CANDIDATES = 16
_NULL_CODE = np.uint64(0x5BD1E9955BD1E995)


@dataclass(frozen=True)
class Finding:
    """The rows (0-based) that break one rule; ``column`` is "*" for a rule about whole rows."""

    column: str
    rule: str
    rows: np.ndarray
    message: str
    severity: Severity = "error"
    with_values: bool = True


def _rows(mask: Column) -> np.ndarray | None:
    """0-based rows where ``mask`` is true (null counts as false); None when there are none."""
    if not pc.any(mask).as_py():
        return None
    return np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))


def _both(left: Column | None, right: Column) -> Column:
    return right if left is None else pc.and_(left, right)


def _present(data: Column) -> Column | None:
    """Which values are present (not null, not NaN); None when all are."""
    if pa.types.is_floating(data.type):
        missing = pc.is_null(data, nan_is_null=True)
        return pc.invert(missing) if pc.any(missing).as_py() else None
    return pc.is_valid(data) if data.null_count else None


def _decoded(data: Column) -> Column:
    if pa.types.is_dictionary(data.type):
        return data.cast(data.type.value_type)
    return data


def _numbers(column: CompiledColumn, data: Column) -> tuple[Column | None, Column | None]:
    """(the values as float64, or None; where a present value is not a number of the column's type)."""
    kind = data.type
    if pa.types.is_null(kind):
        return None, None
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return data.cast(pa.float64()), None
    if pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        values = data.cast(pa.float64())
        if column.type == "integer":
            return values, pc.not_equal(pc.floor(values), values)
        return values, None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        readable = pc.match_substring_regex(data, NUMBER_TEXT)
        text = pc.if_else(readable, pc.utf8_trim_whitespace(data), None)
        values = text.cast(pa.float64())
        bad = pc.invert(readable)
        if column.type == "integer":
            integral = pc.equal(pc.floor(values), values)
            bad = pc.or_(bad, pc.invert(pc.fill_null(integral, True)))
            values = pc.if_else(integral, values, None)
        return values, bad
    return None, pc.is_valid(data)


def _instants(data: Column, fmt: str | None = None) -> tuple[Column | None, Column | None]:
    """(UTC instants as int64 nanoseconds, or None; where a present value is not a date).

    Text is read in ``fmt`` (the schema's, as the training file was read) when given."""
    kind = data.type
    if pa.types.is_null(kind):
        return None, None
    if pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        stamps = data.cast(pa.timestamp("ns", tz=getattr(kind, "tz", None)))
        return stamps.cast(pa.int64()), None
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        distinct = pc.unique(data).drop_null()
        text = pd.Series(distinct.to_pylist(), dtype=object)
        parsed = utc_instants(text) if fmt is None else read_instants(text, fmt)
        nanos = pa.array(
            parsed.to_numpy(dtype="datetime64[ns]").astype(np.int64), mask=parsed.isna().to_numpy()
        )
        values = pc.take(nanos, pc.index_in(data, value_set=distinct))
        return values, pc.and_(pc.is_valid(data), pc.is_null(values))
    return None, pc.is_valid(data)


def _type_and_bounds(column: CompiledColumn, data: Column) -> list[tuple[str, Column]]:
    out: list[tuple[str, Column]] = []
    if column.numeric:
        values, bad = _numbers(column, data)
        if bad is not None:
            out.append(("type", bad))
        if values is not None:
            if column.low is not None:
                out.append(("min", pc.less(values, column.low)))
            if column.high is not None:
                out.append(("max", pc.greater(values, column.high)))
            if column.fences is not None:
                low, high = column.fences
                out.append(("outliers", pc.or_(pc.less(values, low), pc.greater(values, high))))
    elif column.type == "boolean":
        kind = data.type
        if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
            out.append(("type", pc.invert(pc.is_in(data, pa.array([0.0, 1.0]).cast(kind)))))
        elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
            spelled = pc.utf8_lower(pc.utf8_trim_whitespace(data))
            out.append(("type", pc.invert(pc.is_in(spelled, TRUTH_SET))))
        elif not (pa.types.is_boolean(kind) or pa.types.is_null(kind)):
            out.append(("type", pc.is_valid(data)))
    elif column.type == "datetime":
        nanos, bad = _instants(data, column.source.format)
        if bad is not None:
            out.append(("type", bad))
        if nanos is not None:
            if column.earliest is not None:
                out.append(("min", pc.less(nanos, int(pd.Timestamp(column.earliest).value))))
            if column.latest is not None:
                out.append(("max", pc.greater(nanos, int(pd.Timestamp(column.latest).value))))
    return out


def category_texts(data: Column) -> Column:
    """``schema.category_text`` of every value, the spelling compared with an allowed set."""
    kind = data.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return data
    if pa.types.is_boolean(kind):
        return pc.if_else(data, "True", "False")
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return data.cast(pa.string())
    from mloop.data.schema import category_text

    return pa.array(
        [None if v is None else category_text(v) for v in data.to_pylist()], pa.string()
    )


def _repeats(codes: np.ndarray) -> np.ndarray:
    """Rows whose code appeared earlier; codes number values in order of first appearance (as
    ``dictionary_encode`` assigns them) and -1 marks a row to skip. No sort, no Python loop:
    a row repeats exactly when its code is not above every code before it."""
    before = np.empty_like(codes)
    before[0] = -1
    np.maximum.accumulate(codes[:-1], out=before[1:])
    return (codes >= 0) & (codes <= before)


def _flags(mask: Column) -> np.ndarray:
    return np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False), dtype=bool)


def _fixed_width(kind: pa.DataType) -> bool:
    return bool(
        pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_temporal(kind)
    )


def _bits(data: Column) -> np.ndarray:
    """A fixed-width column's values as uint64, equal exactly when the values are (nulls: 0)."""
    kind = data.type
    if pa.types.is_floating(kind):
        values: np.ndarray = np.asarray(
            data.cast(pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64
        )
        return (values + 0.0).view(np.uint64)  # -0.0 is 0.0
    if pa.types.is_boolean(kind):
        return np.asarray(data.fill_null(False).to_numpy(zero_copy_only=False), dtype=np.uint64)
    # dates and times are stored as integers: read those bits as they are
    as_int = data
    if not pa.types.is_integer(kind):
        chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
        width = _INTS[kind.bit_width]
        as_int = pa.chunked_array([c.view(width) for c in chunks], width)
    whole: np.ndarray = np.asarray(as_int.fill_null(0).to_numpy(zero_copy_only=False))
    return whole.astype(np.int64, copy=False).view(np.uint64)


@dataclass
class _Encoded:
    """A column as the rules read it: per-value masks are computed on ``values`` (the dictionary
    of a dictionary column, a few hundred entries) and ``expand`` maps them onto the rows."""

    data: Column
    values: Column
    indices: Column | None

    @classmethod
    def of(cls, data: Column) -> _Encoded:
        if not pa.types.is_dictionary(data.type):
            return cls(data, data, None)
        chunks = data.chunks if isinstance(data, pa.ChunkedArray) else [data]
        first = chunks[0].dictionary if chunks else None
        if (
            first is None
            or not all(c.dictionary.equals(first) for c in chunks[1:])
            or (pc.count_distinct(first).as_py() != len(first))
        ):
            return cls(data, data.cast(data.type.value_type), None)  # not one shared dictionary
        return cls(data, first, pa.chunked_array([c.indices for c in chunks], data.type.index_type))

    def expand(self, mask: Column) -> Column:
        return mask if self.indices is None else pc.take(mask, self.indices)

    def present(self) -> Column | None:
        valid = _present(self.values)
        if self.indices is None:
            return valid
        rows = None if valid is None else self.expand(valid)
        return rows if not self.indices.null_count else _both(rows, pc.is_valid(self.indices))

    def codes(self, *, in_order: bool = True) -> np.ndarray:
        """int64 per row, equal exactly when the values are (-1 for null); ``in_order`` numbers
        values by first appearance (what ``_repeats`` needs), at the cost of a sort."""
        if self.indices is not None:
            codes = np.asarray(
                self.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64
            )
            return _renumbered(codes) if in_order else codes
        combined = (
            self.data.combine_chunks() if isinstance(self.data, pa.ChunkedArray) else self.data
        )
        encoded = pc.dictionary_encode(combined)
        return np.asarray(
            encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64
        )


def _renumbered(codes: np.ndarray) -> np.ndarray:
    """Codes renumbered in order of first appearance (what ``_repeats`` needs); -1 stays."""
    seen = codes[codes >= 0]
    if not len(seen):
        return codes
    _, first = np.unique(seen, return_index=True)
    order = np.full(int(seen.max()) + 1, -1, dtype=np.int64)
    order[seen[np.sort(first)]] = np.arange(len(first))
    return np.where(codes >= 0, order[np.maximum(codes, 0)], -1)


def _unique_breaks(encoded: _Encoded, present: Column | None) -> np.ndarray:
    """0-based rows repeating an earlier present value of the column."""
    kind = encoded.values.type
    keep = None if present is None else _flags(present)
    if encoded.indices is None and _fixed_width(kind):
        bits = _bits(encoded.data)
        rows = np.arange(len(bits)) if keep is None else np.flatnonzero(keep)
        repeated = pd.Series(bits[rows] if keep is not None else bits).duplicated().to_numpy()
        return rows[repeated]
    codes = encoded.codes()
    if keep is not None:
        codes = np.where(keep, codes, -1)
    return np.flatnonzero(_repeats(codes))


def column_findings(column: CompiledColumn, data: Column, rows: int) -> list[Finding]:
    name = column.name
    encoded = _Encoded.of(data)
    present = encoded.present()
    found: list[Finding] = []
    missing = None if present is None else _rows(pc.invert(present))
    if missing is not None and not column.nullable:
        found.append(
            Finding(name, "nullable", missing, column.message("nullable"), with_values=False)
        )
    if missing is not None and column.max_null_rate is not None and rows >= MIN_ROWS_FOR_RATES:
        rate = len(missing) / rows
        if rate > column.max_null_rate:
            message = column.null_rate_message(rate)
            found.append(Finding(name, "max_null_rate", missing, message, with_values=False))
    outliers: Finding | None = None
    type_ok = present
    masks = _type_and_bounds(column, encoded.values)
    if column.allowed is not None:
        allowed = pa.array(sorted(column.allowed), pa.string())
        masks.append(("allowed", pc.invert(pc.is_in(category_texts(encoded.values), allowed))))
    for rule, on_values in masks:
        mask = encoded.expand(on_values)
        bad = _rows(_both(type_ok if rule in _NEEDS_TYPE else present, mask))
        if rule == "type" and bad is not None:
            type_ok = _both(present, pc.invert(pc.fill_null(mask, False)))
        if bad is None:
            continue
        if rule == "outliers":
            severity: Severity = "error" if column.outliers == "error" else "warning"
            outliers = Finding(name, rule, bad, column.message(rule), severity)
        else:
            found.append(Finding(name, rule, bad, column.message(rule)))
    if column.unique and rows:
        repeated = _unique_breaks(encoded, present)
        if len(repeated):
            found.append(Finding(name, "unique", repeated, column.message("unique")))
    if outliers is not None:
        found.append(outliers)
    return found


_NEEDS_TYPE = {"min", "max", "outliers"}


def _row_part(data: Column) -> np.ndarray:
    """uint64 per row, equal for equal values (missing values are all alike)."""
    encoded = _Encoded.of(data)
    if encoded.indices is not None or not _fixed_width(encoded.values.type):
        return encoded.codes(in_order=False).astype(np.uint64)
    bits = _bits(data)
    kind = data.type
    missing = pc.is_null(data, nan_is_null=True) if pa.types.is_floating(kind) else None
    if missing is None and data.null_count:
        missing = pc.is_null(data)
    if missing is not None and pc.any(missing).as_py():
        bits = np.where(_flags(missing), _NULL_CODE, bits)
    return bits


def _same(data: Column, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    a, b = pc.take(data, left), pc.take(data, right)
    if pa.types.is_dictionary(a.type):
        a, b = a.cast(a.type.value_type), b.cast(b.type.value_type)
    if pa.types.is_floating(a.type):
        a_missing, b_missing = pc.is_null(a, nan_is_null=True), pc.is_null(b, nan_is_null=True)
    else:
        a_missing, b_missing = pc.is_null(a), pc.is_null(b)
    equal = pc.fill_null(pc.equal(a, b), False)
    return _flags(pc.or_(equal, pc.and_(a_missing, b_missing)))


def _first_rows(keys: np.ndarray, rows: np.ndarray, repeated: np.ndarray) -> np.ndarray:
    """For each of ``rows``, the first row with the same key (``repeated``: rows whose key
    appeared before)."""
    wanted = keys[rows]
    if len(rows) <= FEW_CANDIDATES:  # one pass per row beats hashing every row again
        return np.array([np.argmax(keys == value) for value in wanted], dtype=np.int64)
    firsts = np.flatnonzero(~repeated & pd.Series(keys).isin(wanted).to_numpy())
    order = np.argsort(keys[firsts], kind="stable")
    return np.asarray(firsts[order][np.searchsorted(keys[firsts][order], wanted)])


def _confirmed(table: pa.Table, candidates: np.ndarray, originals: np.ndarray) -> np.ndarray:
    same = np.ones(len(candidates), dtype=bool)
    for data in table.columns:
        same &= _same(data, originals, candidates)
    return candidates[same]


def duplicate_rows(
    table: pa.Table,
    parts: list[np.ndarray] | None = None,
    *,
    key: Column | None = None,
    key_repeats: np.ndarray | None = None,
) -> np.ndarray:
    """0-based rows that repeat an earlier row in every column.

    Each row is hashed to 64 bits from its columns' exact codes (multiply-add, then mixed once);
    rows whose hash was seen before are candidates, and each is confirmed value by value against
    the first row with its hash, so a collision can never report a false duplicate. With ``key``,
    a column with no missing values that should be unique, only rows sharing a key value can be
    duplicates: only those (usually none or a few) are hashed; ``key_repeats``, the rows repeating
    an earlier key (the key's "unique" finding), saves finding them again.
    """
    rows = table.num_rows
    if rows < 2 or not table.num_columns:
        return np.empty(0, dtype=np.int64)
    if key is not None:  # identical rows share their key: look only among repeated keys
        codes = _row_part(key)
        if key_repeats is None:
            key_repeats = np.flatnonzero(pd.Series(codes).duplicated(keep="first").to_numpy())
        if not len(key_repeats):
            return key_repeats
        seen_before = np.zeros(rows, dtype=bool)
        seen_before[key_repeats] = True
        shared = np.union1d(key_repeats, _first_rows(codes, key_repeats, seen_before))
        return np.asarray(shared[duplicate_rows(table.take(pa.array(shared)))])
    else:
        hashed = np.zeros(rows, dtype=np.uint64)
        with np.errstate(over="ignore"):
            for part in parts if parts is not None else map(_row_part, table.columns):
                hashed *= _MIX
                hashed += part
            hashed ^= hashed >> np.uint64(31)
    repeated = pd.Series(hashed).duplicated(keep="first").to_numpy()
    candidates = np.flatnonzero(repeated)
    if not len(candidates):
        return candidates
    return _confirmed(table, candidates, _first_rows(hashed, candidates, repeated))


def _key_column(compiled: CompiledSchema, table: pa.Table) -> str | None:
    """A column the schema says is unique and that has a value in every row, if there is one."""
    for column in compiled.columns:
        present = column.name in table.column_names
        if column.unique and present and _Encoded.of(table.column(column.name)).present() is None:
            return column.name
    return None


def _pool() -> ThreadPoolExecutor:
    """Threads for the columns: Arrow compute and numpy release the GIL on whole columns."""
    return ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 8))


def findings(
    compiled: CompiledSchema, table: pa.Table, *, duplicates: bool = True
) -> list[Finding]:
    """What breaks the rules; ``duplicates=False`` skips the repeated-rows rule, which is about
    a data set, not a row (a file to score may hold two alike customers)."""
    rows = table.num_rows
    if any(pa.types.is_dictionary(f.type) for f in table.schema):
        table = table.unify_dictionaries()  # one dictionary per column: its codes are row codes
    names = set(table.column_names)
    found: list[Finding] = []
    checked = [c for c in compiled.columns if c.name in names]
    for column in compiled.columns:
        if column.name not in names and column.required:
            message = column.message("required")
            found.append(
                Finding(column.name, "required", np.empty(0, np.int64), message, with_values=False)
            )
    with _pool() as pool:
        per_column = [
            pool.submit(column_findings, column, table.column(column.name), rows)
            for column in checked
        ]
        key = _key_column(compiled, table)
        hashed = duplicates and rows > 1 and key is None
        parts = list(pool.map(_row_part, table.columns)) if hashed else None
        for future in per_column:
            found.extend(future.result())
    key_repeats = None
    if key is not None:  # the key's own "unique" finding lists the rows repeating a key value
        key_repeats = next(
            (f.rows for f in found if f.column == key and f.rule == "unique"),
            np.empty(0, np.int64),
        )
    data = None if key is None else table.column(key)
    repeated = (
        duplicate_rows(table, parts, key=data, key_repeats=key_repeats)
        if duplicates
        else np.empty(0, np.int64)
    )
    if len(repeated):
        severity: Severity = "error" if compiled.duplicates_fail(len(repeated), rows) else "warning"
        message = compiled.duplicate_message(len(repeated), rows)
        found.append(Finding("*", DUPLICATE_ROWS, repeated, message, severity, with_values=False))
    if compiled.checks:
        frame = to_pandas(_decoded_table(table))
        for check in compiled.checks:
            bad = check.bad_rows(frame)
            if len(bad):
                found.append(Finding("*", check.rule, bad, check.message, with_values=False))
    return found


def _decoded_table(table: pa.Table) -> pa.Table:
    """Text read as dictionaries back to plain text: what custom checks have always been given."""
    for index, field in enumerate(table.schema):
        if pa.types.is_dictionary(field.type):
            table = table.set_column(index, field.name, _decoded(table.column(index)))
    return table


def _values(table: pa.Table, finding: Finding, rows: np.ndarray) -> list[Any]:
    if not finding.with_values or not len(rows):
        return [None] * len(rows)
    data = _decoded(table.column(finding.column))
    return [plain(v) for v in pc.take(data, pa.array(rows)).to_pylist()]


def validate_table(compiled: CompiledSchema, table: pa.Table) -> ValidationReport:
    errors: list[Violation] = []
    warnings: list[Violation] = []
    for finding in findings(compiled, table):
        examples = finding.rows[:MAX_EXAMPLES]
        count = table.num_rows if finding.rule == "required" else len(finding.rows)
        violation = Violation(
            finding.column,
            finding.rule,
            count,
            [int(r) + 1 for r in examples],
            finding.message,
            _values(table, finding, examples),
        )
        (errors if finding.severity == "error" else warnings).append(violation)
    named = {column.name for column in compiled.columns}
    new = [name for name in table.column_names if name not in named]
    return ValidationReport(table.num_rows, errors, warnings, new_columns=new)


def table_errors(
    compiled: CompiledSchema, table: pa.Table, *, duplicates: bool = True
) -> Violations:
    errors: list[FieldError] = []
    warnings: list[FieldError] = []
    for finding in findings(compiled, table, duplicates=duplicates):
        target = errors if finding.severity == "error" else warnings
        if finding.rule == "required":
            target.append(FieldError(None, finding.column, finding.rule, None, finding.message))
            continue
        values = _values(table, finding, finding.rows)
        target.extend(
            FieldError(int(row) + 1, finding.column, finding.rule, value, finding.message)
            for row, value in zip(finding.rows, values, strict=True)
        )
    return Violations(errors, warnings)
