"""Gate policies as declared in ``mloop.toml``, parsed once into typed objects.

    [gates.default]
    thresholds = ["roc_auc >= 0.70", "f1 >= 0.50"]        # absolute, on the re-scored holdout
    # or per task: { classification = ["roc_auc >= 0.70"], regression = ["r2 >= 0.30"] }
    no_regression = { metric = "auto", tolerance = 0.005, bootstrap = 1000, confidence = 0.90, on_noise = "pass" }
    min_holdout_rows = 30                                  # fewer labelled holdout rows fail the gate
    latency_p99_ms = 50                                    # single-row predict, measured on the candidate
    segment_parity = [{ column = "contract", metric = "recall", max_gap = 0.25, min_rows = 30 }]
    data_validation = true                                 # the holdout passes the dataset's schema
    approval = true                                        # a human ran `mloop models approve`

``metric = "auto"`` means roc_auc for classifiers (f1 without predict_proba) and rmse for regressors.
With a bootstrap, a gain whose whole interval clears ``-tolerance`` passes and one whose whole
interval falls short fails; an interval that straddles it is noise, and ``on_noise`` decides:
``"block"`` (the default: show the candidate is no worse) or ``"pass"`` (block only a regression
the data can tell apart from noise). A metric that is NaN on the holdout never passes a threshold.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mloop.errors import InvalidInput, NotFound

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_THRESHOLD = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(>=|<=|>|<)\s*(-?[0-9.eE+-]+)\s*$")
KNOWN_KEYS = {
    "thresholds",
    "no_regression",
    "latency_p99_ms",
    "segment_parity",
    "data_validation",
    "approval",
    "min_holdout_rows",
}
TASKS = ("classification", "regression")


@dataclass(frozen=True)
class Threshold:
    metric: str
    op: str
    value: float

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"

    def holds(self, observed: float) -> bool:
        """NaN (a metric undefined on these rows, e.g. r2 of one row) holds no threshold."""
        return not math.isnan(observed) and OPERATORS[self.op](observed, self.value)


class NoRegression(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    metric: str = "auto"
    tolerance: float = Field(default=0.0, ge=0)
    bootstrap: int = Field(default=0, ge=0)
    confidence: float = Field(default=0.95, gt=0, lt=1)
    on_noise: Literal["block", "pass"] = "block"


class SegmentParity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)
    column: str
    metric: str
    max_gap: float = Field(ge=0)
    min_rows: int = Field(default=30, ge=1)


@dataclass(frozen=True)
class Gate:
    name: str
    thresholds: tuple[Threshold, ...] = ()
    task_thresholds: Mapping[str, tuple[Threshold, ...]] = field(default_factory=dict)
    no_regression: NoRegression | None = None
    latency_p99_ms: float | None = None
    segment_parity: tuple[SegmentParity, ...] = ()
    data_validation: bool = False
    approval: bool = False
    min_holdout_rows: int | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def thresholds_for(self, task: str) -> tuple[Threshold, ...]:
        """The thresholds for every task, then those declared for ``task``."""
        return self.thresholds + tuple(self.task_thresholds.get(task, ()))

    @property
    def needs_holdout(self) -> bool:
        return bool(
            self.thresholds
            or any(self.task_thresholds.values())
            or self.min_holdout_rows is not None
            or self.no_regression
            or self.segment_parity
            or self.latency_p99_ms is not None
            or self.data_validation
        )


def _fail(gate: str, message: str) -> InvalidInput:
    return InvalidInput(f"Gate {gate!r} in mloop.toml: {message}")


def parse_threshold(text: Any) -> Threshold | None:
    """``"METRIC OP NUMBER"`` as a ``Threshold`` (monitors use it too); None when it is not one."""
    match = _THRESHOLD.match(str(text))
    try:  # the pattern admits "0.7.5" or "-"; float() is the judge of a number
        value = float(match.group(3)) if match else None
    except ValueError:
        value = None
    if match is None or value is None:
        return None
    return Threshold(match.group(1), match.group(2), value)


def _threshold(gate: str, text: Any) -> Threshold:
    found = parse_threshold(text)
    if found is None:
        raise _fail(gate, f"threshold {text!r} is not 'METRIC OP NUMBER' (e.g. \"f1 >= 0.75\").")
    return found


def _thresholds(
    gate: str, raw: Any
) -> tuple[tuple[Threshold, ...], dict[str, tuple[Threshold, ...]]]:
    """A list for every task, ``{ classification = [...], regression = [...] }`` per task, or
    ``{ f1 = ">= 0.75" }``; returns (for every task, per task)."""
    example = (
        '["f1 >= 0.75"] or { classification = ["roc_auc >= 0.70"], regression = ["r2 >= 0.30"] }'
    )
    if isinstance(raw, Mapping) and raw and set(raw) <= set(TASKS):
        per_task: dict[str, tuple[Threshold, ...]] = {}
        for task, listed in raw.items():
            if not isinstance(listed, list):
                raise _fail(
                    gate,
                    f"thresholds.{task} must be a list like {example.split(' or ')[0]}, not {listed!r}.",
                )
            per_task[task] = tuple(_threshold(gate, t) for t in listed)
        return (), per_task
    if isinstance(raw, Mapping):  # also accept { f1 = ">= 0.75" }
        raw = [f"{k} {v}" for k, v in raw.items()]
    elif not isinstance(raw, list):
        raise _fail(gate, f"thresholds must be a list like {example}, not {raw!r}.")
    return tuple(_threshold(gate, t) for t in raw), {}


def _table(gate: str, key: str, value: Any, cls: type[BaseModel]) -> Any:
    if not isinstance(value, Mapping):
        raise _fail(gate, f'{key} must be a table like {{ metric = "f1", ... }}.')
    try:
        return cls.model_validate(dict(value))
    except ValidationError as exc:
        errors = exc.errors()
        first = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
        where = ".".join(str(p) for p in first["loc"])
        if first["type"] == "extra_forbidden":
            known = ", ".join(cls.model_fields)
            raise _fail(gate, f"{key} has an unknown key {where!r}; known: {known}.") from exc
        if first["type"] == "missing":
            raise _fail(
                gate, f"{key} needs {where} (keys: {', '.join(cls.model_fields)})."
            ) from exc
        raise _fail(
            gate, f"{key}.{where}: {first['msg'].lower()}, not {first['input']!r}."
        ) from exc


def _flag(gate: str, raw: Mapping[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if not isinstance(value, bool):
        raise _fail(gate, f"{key} must be true or false, not {value!r}.")
    return value


def parse_gate(name: str, raw: Mapping[str, Any]) -> Gate:
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise _fail(
            name,
            f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KNOWN_KEYS))}.",
        )
    if not any(raw.get(key) not in (None, False, []) for key in KNOWN_KEYS):
        raise _fail(
            name, f"declares no checks; use one or more of {', '.join(sorted(KNOWN_KEYS))}."
        )
    thresholds, per_task = _thresholds(name, raw.get("thresholds", []))
    regression = raw.get("no_regression")
    if regression is True:
        regression = {}
    elif regression is False:
        regression = None
    parity = raw.get("segment_parity", [])
    if isinstance(parity, Mapping):
        parity = [parity]
    latency = raw.get("latency_p99_ms")
    if latency is not None and (
        isinstance(latency, bool) or not isinstance(latency, int | float) or latency <= 0
    ):
        raise _fail(
            name, f"latency_p99_ms must be a positive number of milliseconds, not {latency!r}."
        )
    minimum = raw.get("min_holdout_rows")
    if minimum is not None and (
        isinstance(minimum, bool) or not isinstance(minimum, int) or minimum < 1
    ):
        raise _fail(name, f"min_holdout_rows must be a whole number of rows >= 1, not {minimum!r}.")
    gate = Gate(
        name=name,
        thresholds=thresholds,
        task_thresholds=per_task,
        no_regression=None
        if regression is None
        else _table(name, "no_regression", regression, NoRegression),
        latency_p99_ms=None if latency is None else float(latency),
        segment_parity=tuple(_table(name, "segment_parity", p, SegmentParity) for p in parity),
        data_validation=_flag(name, raw, "data_validation"),
        approval=_flag(name, raw, "approval"),
        min_holdout_rows=minimum,
        raw=dict(raw),
    )
    return gate


def get_gate(gates: Mapping[str, Any], name: str) -> Gate:
    if name not in gates:
        known = ", ".join(sorted(gates)) or "none are configured"
        raise NotFound(f"No gate named {name!r} in mloop.toml [gates]; gates are: {known}.")
    raw = gates[name]
    if not isinstance(raw, Mapping):
        raise _fail(name, "must be a table ([gates.NAME]).")
    return parse_gate(name, raw)
