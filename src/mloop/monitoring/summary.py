"""Thresholds checked against a run's figures, and the plain-language summary of what crossed.

A threshold is checked on the whole window's figure. When it crosses, the segment where the
figure is worst is named too, because "latency p99 62 ms" is a symptom and "contract=two-year at
180 ms" is where to look.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mloop.monitoring.operations import Point
from mloop.registry.gate_config import Threshold

LOWER_IS_BETTER = ("<", "<=")


@dataclass
class Check:
    """One threshold and what the window measured; ``status`` is ok, crossed or "no data"."""

    threshold: Threshold
    value: float | None
    worst_segment: str | None = None
    worst_value: float | None = None
    alert_id: str | None = None  # the alert this run raised for it
    alerted_before: str | None = None  # the earlier alert of an overlapping window

    @property
    def status(self) -> str:
        if self.value is None:
            return "no data"
        return "ok" if self.threshold.holds(self.value) else "crossed"

    @property
    def crossed(self) -> bool:
        return self.status == "crossed"

    @property
    def sentence(self) -> str:
        """``estimated roc_auc 0.71, below 0.75`` (plus the worst segment when there is one)."""
        metric = self.threshold.metric
        if self.value is None:
            return f"{label(metric)} not measured in this window"
        side = "below" if self.threshold.op in (">", ">=") else "above"
        if not self.crossed:
            side = "within"
        text = f"{label(metric)} {figure(metric, self.value)}, {side} {figure(metric, self.threshold.value)}"
        if self.crossed and self.worst_segment is not None and self.worst_value is not None:
            text += f" (worst in {self.worst_segment}: {figure(metric, self.worst_value)})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.threshold.metric,
            "threshold": str(self.threshold),
            "value": self.value,
            "status": self.status,
            "worst_segment": self.worst_segment,
            "worst_value": self.worst_value,
            "message": self.sentence,
            "alert": self.alert_id or self.alerted_before,
            "new_alert": self.alert_id is not None,
        }


def label(metric: str) -> str:
    """How a metric reads in a sentence: ``latency p99``, ``estimated roc_auc``, ``KPI revenue``."""
    if metric.startswith("latency_p") and metric.endswith("_ms"):
        return "latency " + metric[len("latency_") : -len("_ms")]
    if metric.startswith("kpi."):
        return "KPI " + metric[4:]
    if metric.startswith("null_rate."):
        return f"null rate of {metric[len('null_rate.') :]}"
    if metric.startswith("drift."):
        return f"drift score of {metric[len('drift.') :]}"
    return (
        metric.replace(".", " ").replace("_", " ")
        if metric.endswith("_rate")
        else metric.replace(".", " ")
    )


def figure(metric: str, value: float) -> str:
    if metric.endswith("_ms"):
        return f"{value:.3g} ms" if value < 100 else f"{value:,.0f} ms"
    if metric in ("requests", "predictions") or (metric.startswith("kpi.") and abs(value) >= 1000):
        return f"{value:,.0f}"
    return f"{value:.3g}"


def check_thresholds(thresholds: Sequence[Threshold], points: Sequence[Point]) -> list[Check]:
    whole = {p.metric: p.value for p in points if p.segment is None and p.model is None}
    checks = []
    for threshold in thresholds:
        value = whole.get(threshold.metric)
        check = Check(threshold, value)
        if check.crossed:
            segments = [
                p
                for p in points
                if p.metric == threshold.metric and p.segment is not None and p.value is not None
            ]
            if segments:
                pick = max if threshold.op in LOWER_IS_BETTER else min
                worst = pick(segments, key=lambda p: p.value or 0.0)
                check.worst_segment, check.worst_value = worst.segment, worst.value
        checks.append(check)
    return checks


def summarise(
    checks: Sequence[Check],
    points: Sequence[Point],
    *,
    records: int,
    start: dt.datetime,
    end: dt.datetime,
    lead: Sequence[str] = (),
) -> str:
    """Plain sentences: what drifted (``lead``), what crossed, and how many checks passed."""
    if records == 0:
        return (
            f"No predictions were logged between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} "
            "UTC; nothing to check."
        )
    parts = list(lead)
    crossed = [c for c in checks if c.crossed]
    parts += [c.sentence for c in crossed]
    measured = [c for c in checks if c.status != "no data"]
    missing = [c.threshold.metric for c in checks if c.status == "no data"]
    tail = f"{len(measured) - len(crossed)} of {len(checks)} checks passed over {records:,} predictions"
    if missing:
        tail += f" ({', '.join(missing)} not measured)"
    parts.append(tail)
    text = "; ".join(parts) + "."
    return text[0].upper() + text[1:]
