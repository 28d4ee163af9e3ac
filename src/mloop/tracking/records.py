"""What the tracking services return: frozen records, plus the few rules every writer shares.

Kept apart from ``runs.py`` (writes) and ``queries.py`` (reads) so both, the batching writer and the
fluent API can use them without importing each other.

Metric values and SQLite: SQLite has no NaN (``sqlite3`` binds NaN as NULL, which the NOT NULL
``metrics.value`` column refuses), but it is dynamically typed, so a NaN is stored as the text
``'NaN'`` in that REAL column and read back with ``float()``. PostgreSQL stores NaN natively.
Infinities are real values in both. Readers outside this package should go through
``queries.py`` (or ``decode_metric``) rather than read ``metrics.value`` raw.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from typing import Any, Literal

from mloop.errors import InvalidInput
from mloop.plural import plural

Status = Literal["RUNNING", "FINISHED", "FAILED", "KILLED"]
STATUSES = ("RUNNING", "FINISHED", "FAILED", "KILLED")
END_STATUSES: frozenset[str] = frozenset(STATUSES[1:])
MAX_KEY = 250  # as MLflow: keys of params, metrics and tags
MAX_NAME = 255  # the NAME columns (experiment, run name)
MAX_ARTIFACT_NAME = 1024  # run_artifacts.path
MAX_SHORT = 32  # run_artifacts.kind, run_inputs.role
NAN_TEXT = "NaN"


@dataclass(frozen=True)
class RunInfo:
    id: str
    experiment: str
    name: str | None
    status: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    user: str
    error: str | None
    environment: dict[str, Any] = field(repr=False)
    process_gone: bool = False  # RUNNING, but its process on this host has died (SIGKILL, OOM)
    parent_run_id: str | None = None  # a sweep's trial: the sweep's run

    @property
    def duration_s(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def __repr__(self) -> str:
        return f"RunInfo({self.id}, {self.experiment}, {self.status})"


@dataclass(frozen=True)
class ArtifactRecord:
    path: str  # the logical name, POSIX; never a filesystem path
    blob_hash: str
    size_bytes: int
    kind: str


@dataclass(frozen=True)
class RunInput:
    dataset_version_id: str
    role: str
    dataset_ref: str | None  # "name@version" when the version is known to this store
    content_hash: str | None


@dataclass(frozen=True)
class Run:
    info: RunInfo
    params: dict[str, Any]
    metrics: dict[str, float]  # latest value per key: highest step, then newest timestamp
    tags: dict[str, str]
    artifacts: list[ArtifactRecord]
    inputs: list[RunInput]

    @property
    def id(self) -> str:
        return self.info.id

    def __repr__(self) -> str:
        # Params, metrics and the environment (every installed package) run to kilobytes.
        counts = ", ".join(
            plural(len(items), noun)
            for items, noun in (
                (self.params, "param"),
                (self.metrics, "metric"),
                (self.artifacts, "artifact"),
                (self.inputs, "input"),
            )
        )
        return f"Run({self.info.id}, {self.info.experiment}, {self.info.status}, {counts})"


@dataclass(frozen=True)
class RunSummary:
    id: str
    experiment: str
    name: str | None
    status: str
    started_at: dt.datetime
    ended_at: dt.datetime | None
    user: str
    metrics: dict[str, float]
    process_gone: bool = False
    parent_run_id: str | None = None


@dataclass(frozen=True)
class MetricPoint:
    step: int
    timestamp_ms: int
    value: float


@dataclass(frozen=True)
class ComparisonRow:
    kind: Literal["param", "metric"]
    key: str
    values: list[Any]  # one per run, in the order of ``Comparison.runs``; None where not logged
    differs: bool


@dataclass(frozen=True)
class Comparison:
    runs: list[str]
    rows: list[ComparisonRow]
    names: list[str | None] = field(default_factory=list)  # run names, in the order of ``runs``


def check_key(key: object, what: str) -> str:
    """Return ``key`` if it is a usable name; raises ``InvalidInput`` naming the rule otherwise."""
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY:
        shown = repr(key) if not isinstance(key, str) or len(key) <= 60 else repr(key[:60] + "…")
        raise InvalidInput(
            f"{what} name {shown} must be a non-empty string of at most {MAX_KEY} characters."
        )
    return key


def metric_number(key: str, value: object) -> float:
    """``value`` as a float (numpy scalars, ints, bools too); raises ``InvalidInput`` for a string
    or anything else that is not a number."""
    if isinstance(value, str | bytes):
        raise InvalidInput(f"Metric {key!r} must be a number, not the string {value!r}.")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError) as exc:  # 10**400 overflows a float
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:60] + "…"
        raise InvalidInput(f"Metric {key!r} must be a number, not {shown}.") from exc


def metric_step(key: str, step: object) -> int:
    """``step`` as an int: a whole number (numpy ints and 3.0 too) that fits the 64-bit column.

    Raises ``InvalidInput`` otherwise: ``int(2.7)`` would silently file the point under step 2,
    and a step past 2**63 would fail the whole batch it is written in.
    """
    whole: int | None
    try:
        whole = int(step)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        whole = None
    if whole is None or whole != step or not -(2**63) <= whole < 2**63:
        raise InvalidInput(f"Metric {key!r} step must be a whole number, not {step!r}.")
    return whole


def encode_metric(value: float, dialect: str) -> float | str:
    """The value to bind for ``metrics.value`` (NaN becomes ``'NaN'`` on SQLite, see above)."""
    if value != value and dialect == "sqlite":
        return NAN_TEXT
    return value


def decode_metric(raw: Any) -> float:
    return math.nan if raw is None else float(raw)


def utc(value: dt.datetime) -> dt.datetime:
    """SQLite returns naive datetimes for ``DateTime(timezone=True)``; every one we write is UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value
