"""One typed, mergeable profile per column kind: the reference that monitoring compares against.

Every statistic here adds up. A profile of a monitoring window is made with ``reference.like()``
(an empty profile on the reference's histogram edges), fed with ``update(arrow_array)`` batch by
batch, and windows combine with ``merge``: ``merge(profile(a), profile(b))`` equals
``profile(a ∪ b)`` exactly for every count, and within ``rank_error`` for quantiles.

- numbers and datetimes: histogram counts on fixed reference edges with open bins below and above
  them (a value outside the training range is counted, not lost: that is the drift that matters),
  a KLL quantile sketch (Apache DataSketches), null/NaN/±inf counts, min/max, and mean/variance
  merged with Chan's formula;
- text: counts of normalised spellings (surrounding spaces stripped, case folded: "Yes" and
  "yes " are one category), the most frequent ``TOP_CATEGORIES`` kept and the rest in ``other``;
- booleans: true/false counts after reading every spelling as truth ("Yes", "yes", "1", true).

Edges are fixed by the first values a profile sees (evenly spaced over their finite range) and
never move afterwards, so two profiles on the same edges always add up bin by bin.
"""

from __future__ import annotations

import base64
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Self, TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from datasketches import kll_doubles_sketch

from mloop.data.dates import read_instants
from mloop.data.schema import read_truth

HISTOGRAM_BINS = 20
TOP_CATEGORIES = 50
# Spellings counted exactly while a column has at most this many; later new ones go to "other".
TRACKED_CATEGORIES = 1000
KLL_K = 200
QUANTILES = {
    "p01": 0.01,
    "p05": 0.05,
    "p25": 0.25,
    "p50": 0.5,
    "p75": 0.75,
    "p95": 0.95,
    "p99": 0.99,
}
# The confidence of the stated rank error when a sketch was fed a sample (DKW inequality).
SAMPLE_CONFIDENCE = 0.99

Values: TypeAlias = "pa.Array | pa.ChunkedArray"


def _chunks(values: Values) -> list[pa.Array]:
    return list(values.chunks) if isinstance(values, pa.ChunkedArray) else [values]


def _one_array(values: Values) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks() if values.num_chunks != 1 else values.chunk(0)
    return values


class ColumnProfile(ABC):
    """The common face of every kind: counts of rows and nulls, update, merge, JSON."""

    kind: ClassVar[str]
    rows: int
    nulls: int

    @abstractmethod
    def update(self, values: Values) -> Self:
        """Count ``values`` in (in place); returns ``self`` for chaining."""

    @abstractmethod
    def merge(self, other: Self) -> Self:
        """A new profile of both profiles' values; neither input changes."""

    @abstractmethod
    def like(self) -> Self:
        """An empty profile of the same column on the same reference edges."""

    @abstractmethod
    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    @abstractmethod
    def from_json(cls, data: dict[str, Any]) -> Self: ...

    @property
    def count(self) -> int:
        """Rows with a value (neither null nor NaN)."""
        return self.rows - self.nulls

    @property
    def null_rate(self) -> float:
        return self.nulls / self.rows if self.rows else 0.0

    def _check_mergeable(self, other: ColumnProfile) -> None:
        if type(other) is not type(self):
            raise ValueError(f"cannot merge a {other.kind} profile into a {self.kind} profile")

    def _base_json(self, type_: str) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "type": type_,
            "rows": self.rows,
            "count": self.count,
            "nulls": self.nulls,
            "null_rate": self.null_rate,
        }


def _sketch_json(sketch: kll_doubles_sketch) -> str:
    return base64.b64encode(sketch.serialize()).decode("ascii")


def _sketch_of(text: str | None) -> kll_doubles_sketch:
    if not text:
        return kll_doubles_sketch(KLL_K)
    return kll_doubles_sketch.deserialize(base64.b64decode(text))


def even_edges(low: float, high: float, bins: int = HISTOGRAM_BINS) -> np.ndarray:
    """``bins`` equal bins from ``low`` to ``high`` (one unit-wide bin for a constant)."""
    if high > low:
        edges = np.linspace(low, high, bins + 1)
        # Near 2**60 neighbouring floats are far apart: fall back to one bin rather than ties.
        return edges if np.all(np.diff(edges) > 0) else np.array([low, high])
    return np.array([low, max(low + 1.0, float(np.nextafter(low, np.inf)))])


_BLOCK = 1 << 16  # values binned at a time: the temporaries stay in the CPU cache


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Counts of finite ``values`` in ``[below, bin 1, …, bin n, above]``.

    Bins are half-open ``[e_i, e_i+1)`` except the last regular one, which includes its upper
    edge (as ``numpy.histogram`` does), so a profile's own maximum is in range. On evenly spaced
    edges the bin is computed arithmetically and then checked against the edges themselves
    (rounding can put a value on an edge one bin off), as ``numpy.histogram`` does: a few
    nanoseconds a value where a binary search costs seventy.
    """
    last = len(edges) - 1
    counts = np.zeros(last + 2, dtype=np.int64)
    span = edges[-1] - edges[0]
    even = last == 1 or np.allclose(np.diff(edges), span / last, rtol=1e-9, atol=0.0)
    bounds = np.concatenate([[-np.inf], edges, [np.inf]])  # bin k is [bounds[k], bounds[k+1])
    scale = last / span
    for begin in range(0, len(values), _BLOCK):
        block = values[begin : begin + _BLOCK]
        if even:
            position = np.subtract(block, edges[0])
            position *= scale
            np.floor(position, out=position)
            np.clip(position, -1.0, float(last), out=position)
            index = position.astype(np.intp)
            index += 1
            index -= block < bounds[index]
            index += block >= bounds[index + 1]
        else:
            index = np.searchsorted(edges, block, side="right")
        index[block == edges[-1]] = last
        counts += np.bincount(index, minlength=last + 2)
    return counts


@dataclass
class NumericProfile(ColumnProfile):
    """Numbers: histogram on fixed edges with open bins, KLL quantiles, non-finite counts."""

    kind: ClassVar[str] = "numeric"
    type: str = "float"
    rows: int = 0
    nulls: int = 0
    nan: int = 0
    posinf: int = 0
    neginf: int = 0
    finite: int = 0
    min: float | None = None
    max: float | None = None
    mean: float = 0.0
    m2: float = 0.0  # sum of squared deviations from the mean (Chan et al.)
    edges: np.ndarray | None = None
    counts: np.ndarray | None = None  # [below, bins…, above]
    sketch: kll_doubles_sketch = field(default_factory=lambda: kll_doubles_sketch(KLL_K))
    sample_rate: float = 1.0  # the share of finite values fed to the sketch
    sketched: int = 0
    seed: int = 0
    # A format-1 profile's exact quantiles: it has no sketch, so it cannot merge with new counts.
    fixed_quantiles: dict[float, float] | None = None

    def _numbers(self, values: Values) -> tuple[np.ndarray, int]:
        """The values as float64 (nulls as NaN) and the count of real nulls."""
        array = _one_array(values)
        nulls = array.null_count
        if pa.types.is_boolean(array.type):
            array = array.cast(pa.float64())
        if not (pa.types.is_floating(array.type) or pa.types.is_integer(array.type)):
            # Text that reads as numbers; anything else is counted as NaN.
            numbers = pd.to_numeric(pd.Series(array.to_pandas()), errors="coerce")
            return numbers.to_numpy(dtype=float, na_value=np.nan), nulls
        if not pa.types.is_float64(array.type):
            array = array.cast(pa.float64(), safe=False)  # 2**60 is a float like in pandas
        return array.to_numpy(zero_copy_only=False), nulls

    def update(self, values: Values) -> Self:
        numbers, nulls = self._numbers(values)
        self._update_numbers(numbers, nulls)
        return self

    def _update_numbers(self, numbers: np.ndarray, nulls: int) -> None:
        rows = len(numbers)
        all_finite = nulls == 0 and bool(np.isfinite(numbers.sum()))  # one cheap pass
        finite = numbers if all_finite else numbers[np.isfinite(numbers)]
        nan = posinf = neginf = 0
        if len(finite) < rows:
            nan = int(np.isnan(numbers).sum()) - nulls
            posinf = int(np.count_nonzero(numbers == np.inf))
            neginf = rows - len(finite) - nulls - nan - posinf
        self.rows += rows
        self.nulls += nulls + nan
        self.nan += nan
        self.posinf += posinf
        self.neginf += neginf
        if not len(finite):
            return
        low, high = float(finite.min()), float(finite.max())
        if self.edges is None or self.counts is None:
            self.edges = even_edges(low, high)
            self.counts = np.zeros(len(self.edges) + 1, dtype=np.int64)
        self.counts += bin_counts(finite, self.edges)
        self.min = low if self.min is None else min(self.min, low)
        self.max = high if self.max is None else max(self.max, high)
        n = len(finite)
        mean = float(finite.sum()) / n
        centred = finite - mean
        np.square(centred, out=centred)
        # (Not np.dot: it calls BLAS, whose threads cost 30x more than this on a busy machine;
        # and not the sum of squares less n·mean², which loses everything at 2**60 ± 200.)
        m2 = float(centred.sum())
        self._add_moments(n, mean, m2)
        self._sketch(finite)

    def _add_moments(self, n: int, mean: float, m2: float) -> None:
        total = self.finite + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.finite * n / total
        self.finite = total

    def _sketch(self, finite: np.ndarray) -> None:
        if self.sample_rate >= 1.0:
            chosen = finite
        else:
            # KLL costs ~80 ns a value through the binding: a big file feeds it a uniform
            # sample, and rank_error says what that adds.
            rng = np.random.default_rng([self.seed, self.rows])
            take = int(rng.binomial(len(finite), self.sample_rate))
            chosen = finite[rng.integers(0, len(finite), take)]
        if not chosen.flags.writeable:  # the binding refuses read-only (Arrow-owned) memory
            chosen = chosen.copy()
        self.sketch.update(np.ascontiguousarray(chosen, dtype=np.float64))
        self.sketched += len(chosen)

    def merge(self, other: Self) -> Self:
        self._check_mergeable(other)
        if self.sample_rate != other.sample_rate:
            raise ValueError(
                "cannot merge profiles whose quantile sketches sampled at different rates "
                f"({self.sample_rate} and {other.sample_rate})"
            )
        if any(p.fixed_quantiles and p.finite for p in (self, other)):
            raise ValueError(
                "a format-1 profile has no quantile sketch and cannot merge with new counts; "
                "profile the data again (add it as a new dataset version)"
            )
        merged = self.like()
        merged.type = self.type
        for part in (self, other):
            merged._merge_from(part)
        return merged

    def _merge_from(self, part: NumericProfile) -> None:
        self.rows += part.rows
        self.nulls += part.nulls
        self.nan += part.nan
        self.posinf += part.posinf
        self.neginf += part.neginf
        if part.finite:
            if self.edges is None and part.edges is not None:
                self.edges = part.edges
                self.counts = np.zeros(len(part.edges) + 1, dtype=np.int64)
            if (
                part.edges is None
                or self.edges is None
                or part.counts is None
                or self.counts is None
                or not np.array_equal(part.edges, self.edges)
            ):
                raise ValueError(
                    "cannot merge profiles on different histogram edges; make one with "
                    "reference.like() to profile on the reference's edges"
                )
            self.counts = self.counts + part.counts
            self.min = part.min if self.min is None else min(self.min, part.min)  # type: ignore[type-var]
            self.max = part.max if self.max is None else max(self.max, part.max)  # type: ignore[type-var]
            self._add_moments(part.finite, part.mean, part.m2)
        self.sketch.merge(part.sketch)
        self.sketched += part.sketched

    def like(self) -> Self:
        return type(self)(
            type=self.type,
            edges=None if self.edges is None else self.edges.copy(),
            counts=None if self.edges is None else np.zeros(len(self.edges) + 1, np.int64),
            sample_rate=self.sample_rate,
            seed=self.seed + 1,
        )

    def quantile(self, q: float) -> float | None:
        """The value at rank ``q`` (0..1), within ``rank_error`` in rank; ``None`` if empty."""
        if self.sketch.is_empty():
            if self.fixed_quantiles and self.min is not None and self.max is not None:
                known = sorted({0.0: self.min, **self.fixed_quantiles, 1.0: self.max}.items())
                return float(np.interp(q, [k for k, _ in known], [v for _, v in known]))
            return None
        return float(self.sketch.get_quantile(q))

    @property
    def rank_error(self) -> float:
        """The sketch's stated normalised rank error, plus the sampling error when it sampled."""
        if self.sketch.is_empty():
            return 0.0
        error = float(self.sketch.normalized_rank_error(False))
        if self.sample_rate < 1.0 and self.sketched:
            error += math.sqrt(math.log(2 / (1 - SAMPLE_CONFIDENCE)) / (2 * self.sketched))
        return error

    @property
    def std(self) -> float:
        if self.finite < 2 or self.min == self.max:  # one value: m2 holds only rounding error
            return 0.0
        return math.sqrt(self.m2 / (self.finite - 1))

    def histogram(self) -> dict[str, Any]:
        """Edges, the counts between them, and the counts below and above them."""
        if self.edges is None or self.counts is None:
            return {"edges": [], "counts": [], "below": 0, "above": 0}
        return {
            "edges": [float(e) for e in self.edges],
            "counts": [int(c) for c in self.counts[1:-1]],
            "below": int(self.counts[0]),
            "above": int(self.counts[-1]),
        }

    def _shown(self, value: float) -> Any:
        return value

    def _shown_mean(self, value: float) -> Any:
        return self._shown(value)

    def to_json(self) -> dict[str, Any]:
        data = self._base_json(self.type)
        data.update(
            {"nan": self.nan, "posinf": self.posinf, "neginf": self.neginf, "finite": self.finite}
        )
        if self.finite and self.min is not None and self.max is not None:
            data.update(
                {
                    "min": self._shown(self.min),
                    "max": self._shown(self.max),
                    "mean": None if math.isnan(self.mean) else self._shown_mean(self.mean),
                    "std": self.std,
                    "m2": self.m2,
                }
            )
            if self.quantile(0.5) is not None:
                data["quantiles"] = {
                    k: self._shown(self.quantile(q))  # type: ignore[arg-type]
                    for k, q in QUANTILES.items()
                }
                data["rank_error"] = self.rank_error
        data["histogram"] = self.histogram()
        data["sketch"] = None
        if not self.fixed_quantiles and (self.sketched or not self.finite):
            data["sketch"] = {
                "kll": _sketch_json(self.sketch),
                "sample_rate": self.sample_rate,
                "sketched": self.sketched,
            }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        hist = data.get("histogram") or {}
        edges = np.array(hist["edges"], dtype=float) if hist.get("edges") else None
        counts = None
        if edges is not None:
            counts = np.array([hist["below"], *hist["counts"], hist["above"]], dtype=np.int64)
        sketch = data.get("sketch") or {}
        finite = int(data.get("finite", 0))
        return cls(
            type=data.get("type", "float"),
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            nan=int(data.get("nan", 0)),
            posinf=int(data.get("posinf", 0)),
            neginf=int(data.get("neginf", 0)),
            finite=finite,
            min=cls._number(data["min"]) if finite else None,
            max=cls._number(data["max"]) if finite else None,
            mean=cls._number(data["mean"])
            if data.get("mean") is not None
            else (math.nan if finite else 0.0),
            m2=float(data.get("m2", 0.0)),
            edges=edges,
            counts=counts,
            sketch=_sketch_of(sketch.get("kll")),
            sample_rate=float(sketch.get("sample_rate", 1.0)),
            sketched=int(sketch.get("sketched", 0)),
            fixed_quantiles=None
            if sketch or not data.get("quantiles")
            else {
                QUANTILES[k]: cls._number(v) for k, v in data["quantiles"].items() if k in QUANTILES
            },
        )

    @classmethod
    def _number(cls, value: Any) -> float:
        return float(value)


def parse_stamps(text: pa.Array, fmt: str | None = None) -> pa.Array:
    """Date/time text as naive ``timestamp[ns]`` (offsets converted to UTC); unparsable → null.

    With ``fmt``, the format the column's dates were read in when it was profiled, every value
    is read in it or in ISO 8601 (``3/14/52`` is 1952 as it was in the training file; a value
    in another format is not a date). Else Arrow's ISO 8601 cast first: it agrees with pandas wherever it parses and
    is ~25× faster on a million logged dates. Anything else (``20240306``, ``2024/03/06``,
    offsets, junk) goes through pandas' mixed-format parser; differing offsets are compared as
    UTC instants.
    """
    if fmt is not None:
        dates = read_instants(pd.Series(text.to_pandas(), dtype=object), fmt)
        naive = dates.dt.tz_convert("UTC").dt.tz_localize(None)
        return pa.array(naive.astype("datetime64[ns]"), pa.timestamp("ns"))
    try:
        return pc.cast(text, pa.timestamp("ns"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        pass
    series = pd.Series(text.to_pandas())
    try:
        stamps = pd.to_datetime(series, errors="coerce", format="mixed")
    except ValueError:  # "Mixed timezones detected"
        stamps = pd.to_datetime(series, errors="coerce", format="mixed", utc=True)
    if isinstance(stamps.dtype, pd.DatetimeTZDtype):
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return pa.array(stamps.astype("datetime64[ns]"), pa.timestamp("ns"))


@dataclass
class DatetimeProfile(NumericProfile):
    """Datetimes as UTC epoch nanoseconds, shown as ISO instants (in the column's zone if any)."""

    kind: ClassVar[str] = "datetime"
    type: str = "datetime"
    tz: str | None = None
    format: str | None = None  # of the dates read from text (data/dates.py); its text's too

    def _numbers(self, values: Values) -> tuple[np.ndarray, int]:
        array = _one_array(values)
        kind = array.type
        if pa.types.is_date(kind):
            array = array.cast(pa.timestamp("s")).cast(pa.timestamp("ns"))
        elif pa.types.is_timestamp(kind):
            if self.tz is None and kind.tz is not None:
                self.tz = kind.tz
            array = array.cast(pa.timestamp("ns", tz=kind.tz))
        else:
            array = parse_stamps(array, self.format)
        nulls = array.null_count
        ints = array.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
        floats = ints.astype(np.float64)
        if nulls:
            floats[~array.is_valid().to_numpy(zero_copy_only=False)] = np.nan
        return floats, nulls

    def like(self) -> Self:
        fresh = super().like()
        fresh.tz = self.tz
        fresh.format = self.format
        return fresh

    def _merge_from(self, part: NumericProfile) -> None:
        if isinstance(part, DatetimeProfile) and self.tz is None:
            self.tz = part.tz
        if isinstance(part, DatetimeProfile) and self.format is None:
            self.format = part.format
        super()._merge_from(part)

    def _shown(self, value: float) -> Any:
        stamp = pd.Timestamp(round(value), unit="ns")
        if self.tz is not None:
            stamp = stamp.tz_localize("UTC").tz_convert(self.tz)
        return stamp.isoformat()

    def _shown_mean(self, value: float) -> Any:
        """To the microsecond: the nanoseconds of a mean of 1.7e18 are float rounding."""
        return self._shown(round(value / 1000) * 1000.0)

    @classmethod
    def _number(cls, value: Any) -> float:
        if isinstance(value, int | float):
            return float(value)
        stamp = pd.Timestamp(value)
        if stamp.tz is not None:
            stamp = stamp.tz_convert("UTC").tz_localize(None)
        return float(stamp.value)

    def to_json(self) -> dict[str, Any]:
        data = super().to_json()
        data["tz"] = self.tz
        if self.format is not None:
            data["format"] = self.format
        if self.finite:
            # A spread in nanoseconds reads as noise beside ISO dates (data show, data diff):
            # it is kept with the epoch values, where merging needs it.
            mean = None if math.isnan(self.mean) else self.mean
            data.pop("std", None)
            data["epoch_ns"] = {
                "min": self.min,
                "max": self.max,
                "mean": mean,
                "m2": data.pop("m2"),
            }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        epoch = data.get("epoch_ns")
        plain = dict(data)
        if epoch:
            plain.update(epoch)
        profile = super().from_json(plain | {"type": "datetime"})
        profile.tz = data.get("tz")
        profile.format = data.get("format")
        return profile


def text_values(values: Values) -> pa.ChunkedArray:
    """Any column as Arrow text: dictionaries decoded, other types spelt as pandas spells them."""
    array = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
    kind = array.type
    if pa.types.is_dictionary(kind):
        array = array.cast(kind.value_type)
        kind = array.type
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return array
    series = pd.Series(array.to_pandas())
    present = series.notna()
    text = series.astype(object).where(~present, series.astype(object).map(str))
    return pa.chunked_array([pa.array(text.where(present, None), pa.string())])


SMALL_DISTINCT = 4096


def normalise_spellings(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """The spelling a category is counted under: spaces around stripped, case folded."""
    return pc.utf8_lower(pc.utf8_trim_whitespace(text))


def _value_counts(text: pa.ChunkedArray) -> tuple[pa.Array, pa.Array]:
    counted = pc.value_counts(text)
    values, counts = counted.field("values"), counted.field("counts")
    present = values.is_valid()
    return values.filter(present), counts.filter(present)


def _counted(text: pa.ChunkedArray, *, limit: int | None = None) -> tuple[list[Any], list[int]]:
    """Distinct non-null values and their counts; with ``limit``, only the most frequent
    ``limit`` of them and then ``None`` with the rest's total (free text never becomes a
    million Python strings)."""
    return _listed(*_value_counts(text), limit=limit)


def _listed(
    values: pa.Array, counts: pa.Array, *, limit: int | None = None
) -> tuple[list[Any], list[int]]:
    if limit is None or len(values) <= limit:
        return values.to_pylist(), counts.to_pylist()
    order = pc.sort_indices(counts, sort_keys=[("", "descending")])
    top, rest = order.slice(0, limit), order.slice(limit)
    rest_total = pc.sum(pc.take(counts, rest)).as_py() or 0
    return (
        [*pc.take(values, top).to_pylist(), None],
        [*pc.take(counts, top).to_pylist(), rest_total],
    )


@dataclass
class CategoricalProfile(ColumnProfile):
    """Counts of normalised spellings: exact while at most ``TRACKED_CATEGORIES``, then "other"."""

    kind: ClassVar[str] = "categorical"
    type: str = "categorical"
    rows: int = 0
    nulls: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    other: int = 0
    length_total: int = 0

    normalise: bool = True  # False only while inference still needs the raw spellings

    def update(self, values: Values) -> Self:
        self.count_batch(values)
        return self

    def count_batch(self, values: Values) -> pa.Array:
        """``update``, returning the batch's distinct (counted) spellings."""
        text = text_values(values)
        self.rows += len(text)
        self.nulls += text.null_count
        # Counted by raw spelling first: lengths and normalisation then cost a pass over the
        # distinct spellings, not over every row (a million rows of 8 categories: 2x faster).
        distinct, counts = _value_counts(text)
        lengths = pc.multiply(pc.cast(pc.utf8_length(distinct), pa.int64()), counts)
        self.length_total += int(pc.sum(lengths).as_py() or 0)
        if self.normalise:
            spelt = normalise_spellings(pa.chunked_array([distinct], distinct.type))
            if len(spelt) <= SMALL_DISTINCT:  # Acero's group-by costs ~0.1 s to start
                summed: dict[Any, int] = {}
                for value, count in zip(spelt.to_pylist(), counts.to_pylist(), strict=True):
                    summed[value] = summed.get(value, 0) + count
                distinct = pa.array(list(summed), pa.string())
                counts = pa.array(list(summed.values()), pa.int64())
            else:
                grouped = (
                    pa.table({"value": spelt, "count": counts})
                    .group_by("value")
                    .aggregate([("count", "sum")])
                )
                distinct = grouped.column("value").combine_chunks()
                counts = grouped.column("count_sum").combine_chunks()
        self._add(*_listed(distinct, counts, limit=TRACKED_CATEGORIES))
        return distinct

    @classmethod
    def from_counts(cls, raw: CategoricalProfile, *, type_: str = "categorical") -> Self:
        """The profile of the values ``raw`` counted by their raw spelling."""
        profile = cls(
            type=type_,
            rows=raw.rows,
            nulls=raw.nulls,
            other=raw.other,
            length_total=raw.length_total,
        )
        if raw.counts:
            spelt = normalise_spellings(pa.chunked_array([pa.array(list(raw.counts), pa.string())]))
            profile._add(spelt.to_pylist(), list(raw.counts.values()))
        return profile

    def _add(self, values: list[Any], counts: list[int]) -> None:
        for value, count in zip(values, counts, strict=True):
            if value is None:  # the untracked rest of a batch
                self.other += count
            elif value in self.counts:
                self.counts[value] += count
            elif len(self.counts) < TRACKED_CATEGORIES:
                self.counts[value] = count
            else:
                self.other += count

    def merge(self, other: Self) -> Self:
        self._check_mergeable(other)
        merged = self.like()
        for part in (self, other):
            merged.rows += part.rows
            merged.nulls += part.nulls
            merged.other += part.other
            merged.length_total += part.length_total
            merged._add(list(part.counts), list(part.counts.values()))
        return merged

    def like(self) -> Self:
        return type(self)(type=self.type)

    def top(self) -> tuple[dict[str, int], int]:
        """The ``TOP_CATEGORIES`` most frequent spellings (ties by spelling) and the rest's count."""
        ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        kept = dict(ranked[:TOP_CATEGORIES])
        return kept, self.other + sum(c for _, c in ranked[TOP_CATEGORIES:])

    def to_json(self) -> dict[str, Any]:
        data = self._base_json(self.type)
        kept, rest = self.top()
        data.update(
            {
                "categories": kept,
                "other_count": rest,
                "mean_length": self.length_total / self.count if self.count else 0.0,
                "length_total": self.length_total,
            }
        )
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(
            type=data.get("type", "categorical"),
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            counts={str(k): int(v) for k, v in data.get("categories", {}).items()},
            other=int(data.get("other_count", 0)),
            length_total=int(data.get("length_total", 0)),
        )


@dataclass
class BooleanProfile(ColumnProfile):
    """True and false counts whatever the spelling; values that read as neither are ``unread``."""

    kind: ClassVar[str] = "boolean"
    type: str = "boolean"
    rows: int = 0
    nulls: int = 0
    true: int = 0
    false: int = 0
    unread: int = 0

    def update(self, values: Values) -> Self:
        array = values if isinstance(values, pa.ChunkedArray) else pa.chunked_array([values])
        self.rows += len(array)
        self.nulls += array.null_count
        if pa.types.is_boolean(array.type):
            trues = int(pc.sum(array).as_py() or 0)
            self.true += trues
            self.false += len(array) - array.null_count - trues
            return self
        if pa.types.is_dictionary(array.type):
            array = array.cast(array.type.value_type)
        self._add(*_counted(array))  # read each distinct spelling once
        return self

    def _add(self, distinct: list[Any], counts: list[int]) -> None:
        truth = read_truth(pd.Series(distinct, dtype=object))
        for value, count in zip(truth.tolist(), counts, strict=True):
            if value is True:
                self.true += count
            elif value is False:
                self.false += count
            else:
                self.unread += count

    @classmethod
    def from_counts(cls, raw: CategoricalProfile) -> Self:
        """The truth counts of the values ``raw`` counted by their raw spelling."""
        profile = cls(rows=raw.rows, nulls=raw.nulls, unread=raw.other)
        profile._add(list(raw.counts), list(raw.counts.values()))
        return profile

    def merge(self, other: Self) -> Self:
        self._check_mergeable(other)
        return replace(
            self,
            rows=self.rows + other.rows,
            nulls=self.nulls + other.nulls,
            true=self.true + other.true,
            false=self.false + other.false,
            unread=self.unread + other.unread,
        )

    def like(self) -> Self:
        return type(self)()

    def to_json(self) -> dict[str, Any]:
        data = self._base_json(self.type)
        categories = {k: v for k, v in (("true", self.true), ("false", self.false)) if v}
        data.update(
            {
                "true": self.true,
                "false": self.false,
                "unread": self.unread,
                "categories": dict(sorted(categories.items(), key=lambda kv: -kv[1])),
                "other_count": self.unread,
            }
        )
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        return cls(
            rows=int(data["rows"]),
            nulls=int(data["nulls"]),
            true=int(data.get("true", 0)),
            false=int(data.get("false", 0)),
            unread=int(data.get("unread", 0)),
        )


KINDS: dict[str, type[ColumnProfile]] = {
    "integer": NumericProfile,
    "float": NumericProfile,
    "datetime": DatetimeProfile,
    "categorical": CategoricalProfile,
    "string": CategoricalProfile,
    "boolean": BooleanProfile,
}


def empty_profile(column_type: str, *, sample_rate: float = 1.0) -> ColumnProfile:
    """A fresh profile for a schema column type (``integer``, ``float``, … ``boolean``)."""
    cls = KINDS[column_type]
    if issubclass(cls, DatetimeProfile):
        return cls(sample_rate=sample_rate)
    if issubclass(cls, NumericProfile):
        return cls(type=column_type, sample_rate=sample_rate)
    if issubclass(cls, CategoricalProfile):
        return cls(type=column_type)
    return cls()


def column_profile_from_json(data: dict[str, Any]) -> ColumnProfile:
    """The typed profile a format-2 ``to_json`` wrote."""
    for cls in (NumericProfile, DatetimeProfile, CategoricalProfile, BooleanProfile):
        if data.get("kind") == cls.kind:
            return cls.from_json(data)
    raise ValueError(f"unknown column profile kind {data.get('kind')!r}")
