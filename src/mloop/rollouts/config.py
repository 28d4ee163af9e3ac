"""A rollout's settings as ``[policies.NAME.rollout]`` declares them, parsed once and checked.

    [policies.churn.rollout]
    strategy = "canary"        # or "shadow"
    weight = 20                # the canary's share of requests, percent (ignored for shadow)
    min_sample = 200           # requests answered by the candidate before any verdict
    watch = "10m"              # the verdict is due by then
    guardrails = ["error_rate <= 0.01", "rejection_rate <= 0.05", "latency_p99_ms <= 50",
                  "prediction_drift <= 0.2", "realised.roc_auc >= 0.75"]

Guardrails use the gates' ``"METRIC OP NUMBER"`` form (``registry.gate_config.parse_threshold``,
as monitors do); ``GUARDRAIL_METRICS`` lists what a rollout measures, docs/rollouts.md defines
each. A bad key or value is refused when the file is read, naming ``where.key`` and the fix, so
a typo stops the policy at load and never during a live canary.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from mloop.errors import InvalidInput
from mloop.monitoring.monitor_config import ESTIMATED_METRICS, PERFORMANCE_METRICS
from mloop.predlog.timespec import parse_duration
from mloop.registry.gate_config import Threshold, parse_threshold

Strategy = Literal["canary", "shadow"]
STRATEGIES: tuple[Strategy, ...] = ("canary", "shadow")
# Operations figures of the candidate's own records, and its predictions against the champion's.
GUARDRAIL_METRICS = (
    "error_rate",
    "rejection_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "prediction_drift",
)
PERFORMANCE_PREFIXES = ("realised", "estimated")
# figures that are fractions of the candidate's requests (or of its prediction columns): a bar
# outside 0..1 is a percent written as a number, and would pass (or fail) whatever happens
SHARES = ("error_rate", "rejection_rate", "prediction_drift")
# Watching the candidate on live traffic at all is the point: errors and refusals are the
# figures no healthy candidate should move, whatever the model. Latency and prediction drift
# depend on the model and the machine, so a policy states its own bars for them.
DEFAULT_GUARDRAILS = ("error_rate <= 0.01", "rejection_rate <= 0.05")
KNOWN_KEYS = ("strategy", "weight", "min_sample", "watch", "guardrails")


@dataclass(frozen=True)
class RolloutConfig:
    """How a candidate goes live and what it must show before it is promoted."""

    strategy: Strategy = "canary"
    weight: int = 20  # canary traffic percent (ignored for shadow)
    min_sample: int = 200  # requests answered by the candidate before any verdict
    watch_seconds: float = 600.0  # the verdict is due by then
    guardrails: tuple[str, ...] = DEFAULT_GUARDRAILS

    def thresholds(self) -> tuple[Threshold, ...]:
        """The guardrails parsed (they were checked when the config was made)."""
        return tuple(parse_guardrail(text, "guardrails") for text in self.guardrails)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "weight": self.weight if self.strategy == "canary" else None,
            "min_sample": self.min_sample,
            "watch_seconds": self.watch_seconds,
            "guardrails": list(self.guardrails),
        }


def parse_guardrail(text: Any, where: str) -> Threshold:
    """One guardrail string as a ``Threshold``; ``InvalidInput`` naming ``where`` otherwise."""
    found = parse_threshold(text) if isinstance(text, str) else None
    if found is None:
        raise InvalidInput(
            f"{where}: {text!r} is not a guardrail 'METRIC OP NUMBER'; write e.g. "
            '"error_rate <= 0.01".'
        )
    prefix, dot, rest = found.metric.partition(".")
    if dot and prefix in PERFORMANCE_PREFIXES:
        if rest not in PERFORMANCE_METRICS:
            raise InvalidInput(
                f"{where}: {text!r} names {rest!r}, not a performance metric; use "
                f"{prefix}.METRIC with one of {', '.join(PERFORMANCE_METRICS)}."
            )
        if prefix == "estimated" and rest not in ESTIMATED_METRICS:
            raise InvalidInput(
                f"{where}: {text!r} can never be measured: only classification metrics are "
                f"estimated without labels ({', '.join(ESTIMATED_METRICS)}); use realised.{rest}."
            )
    elif found.metric not in GUARDRAIL_METRICS:
        raise InvalidInput(
            f"{where}: {text!r} names no figure a rollout measures; use one of "
            f"{', '.join(GUARDRAIL_METRICS)}, realised.METRIC or estimated.METRIC."
        )
    if not math.isfinite(found.value):
        raise InvalidInput(f"{where}: {text!r} needs a finite number to compare with.")
    if found.metric in SHARES and not 0.0 <= found.value <= 1.0:
        raise InvalidInput(
            f"{where}: {text!r} compares a share with {found.value:g}, which it can never "
            f'cross; write the bar as a fraction from 0 to 1 (e.g. "{found.metric} <= 0.05").'
        )
    if found.metric.startswith("latency_") and found.value <= 0:
        raise InvalidInput(
            f"{where}: {text!r} needs a positive number of milliseconds, like "
            f'"{found.metric} <= 50".'
        )
    return found


def _whole(where: str, key: str, value: Any, low: int, high: int | None, meaning: str) -> int:
    bad = isinstance(value, bool) or not isinstance(value, int)
    if bad or value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"of {low} or more"
        raise InvalidInput(
            f"{where}.{key} must be a whole number {span} ({meaning}), not {value!r}."
        )
    return int(value)


def parse_rollout_config(table: Mapping[str, Any], where: str) -> RolloutConfig:
    """``table`` (a ``[policies.X.rollout]`` table) as a ``RolloutConfig``.

    ``where`` is how the table is named in messages (``policies.churn.rollout``). Raises
    ``InvalidInput`` naming ``where.KEY`` and the fix for an unknown key or a bad value.
    """
    if not isinstance(table, Mapping):
        raise InvalidInput(
            f'{where} must be a table like {{ strategy = "canary", weight = 20 }}, not {table!r}.'
        )
    unknown = sorted(set(table) - set(KNOWN_KEYS))
    if unknown:
        raise InvalidInput(
            f"{where}.{unknown[0]} is not a rollout setting; the keys are {', '.join(KNOWN_KEYS)}."
        )
    defaults = RolloutConfig()
    strategy = table.get("strategy", defaults.strategy)
    if strategy not in STRATEGIES:
        raise InvalidInput(f'{where}.strategy must be "canary" or "shadow", not {strategy!r}.')
    weight = _whole(
        where, "weight", table.get("weight", defaults.weight), 1, 99, "the canary's percent"
    )
    min_sample = _whole(
        where,
        "min_sample",
        table.get("min_sample", defaults.min_sample),
        1,
        None,
        "requests the candidate answers before a verdict",
    )
    watch = table.get("watch")
    watch_seconds = defaults.watch_seconds
    if watch is not None:
        if not isinstance(watch, str):
            raise InvalidInput(
                f'{where}.watch must be a duration in quotes like "10m", not {watch!r}.'
            )
        try:
            watch_seconds = parse_duration(watch, option=f"{where}.watch").total_seconds()
        except InvalidInput:
            raise InvalidInput(
                f'{where}.watch must be a positive duration like "30s", "10m" or "2h", '
                f"not {watch!r}."
            ) from None
    listed = table.get("guardrails", list(defaults.guardrails))
    if not isinstance(listed, list | tuple) or not listed:
        raise InvalidInput(
            f'{where}.guardrails must be a non-empty list like ["error_rate <= 0.01"], '
            f"not {listed!r}."
        )
    for text in listed:
        parse_guardrail(text, f"{where}.guardrails")
    return RolloutConfig(
        strategy=strategy,
        weight=weight,
        min_sample=min_sample,
        watch_seconds=watch_seconds,
        guardrails=tuple(str(text) for text in listed),
    )
