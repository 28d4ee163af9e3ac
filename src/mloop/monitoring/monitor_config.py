"""Monitors as declared in ``mloop.toml``, parsed once into a typed ``MonitorConfig``.

    [monitors.churn]                               # one monitor per endpoint, named after it
    window = "24h"                                 # the default window `mloop monitor` evaluates
    reference = "churn-train@3"                    # drift reference; default: the live model's training data
    thresholds = ["drift_share <= 0.3", "estimated.roc_auc >= 0.75", "latency_p99_ms <= 50"]
    segments = ["contract"]                        # every figure also per value of these input columns
    kpis = { revenue = "kpis:revenue" }            # MODULE:FUNCTION in the workspace folder
    webhooks = ["https://hooks.example.com/mloop"] # each alert is POSTed there as JSON

Thresholds use the gates' ``"METRIC OP NUMBER"`` form (``mloop.registry.gate_config``); the
metric names a monitor measures are listed in ``METRICS`` and documented in docs/monitoring.md.
Everything is checked when the file is read, so a typo fails `mloop monitor` at once (exit 2)
with the key and the fix, not after a window of a million records has been read.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from mloop.errors import InvalidInput
from mloop.predlog.timespec import parse_duration
from mloop.registry.gate_config import Threshold, parse_threshold

DEFAULT_WINDOW = "24h"
# Dataset drift when half the columns drift: `mloop drift`'s own default, used when a monitor
# declares no thresholds at all (an endpoint with no [monitors] table is still watched).
DEFAULT_THRESHOLDS = ("drift_share <= 0.5",)

# metric -> alert kind. Operations figures other than latency are kind "operations".
METRICS: dict[str, str] = {
    "drift_share": "drift",
    "drifted_columns": "drift",
    "prediction_drift": "drift",
    "null_rate": "null_rate",
    "latency_p50_ms": "latency",
    "latency_p95_ms": "latency",
    "latency_p99_ms": "latency",
    "error_rate": "operations",
    "rejection_rate": "operations",
    "shadow_disagreement_rate": "operations",
    "requests": "operations",
    "predictions": "operations",
    "throughput_rps": "operations",
    "labelled_share": "performance",
}
# metric prefixes -> kind: estimated.roc_auc, realised.f1, kpi.revenue, drift.tenure, null_rate.tenure
PREFIXES: dict[str, str] = {
    "estimated": "performance",
    "realised": "performance",
    "kpi": "kpi",
    "drift": "drift",
    "null_rate": "null_rate",
}
PERFORMANCE_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "mae", "rmse", "r2")
# CBPE estimates from class probabilities: a regression model has no estimate, so a bar on
# one would never be measured (a rollout guarded by it could only end rejected).
ESTIMATED_METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")
KNOWN_KEYS = {
    "window",
    "reference",
    "thresholds",
    "segments",
    "max_segments",
    "kpis",
    "webhooks",
    "allow_link_local_webhooks",
    "webhook_attempts",
    "webhook_backoff_s",
    "webhook_timeout_s",
}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SPEC = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class MonitorConfig:
    """One endpoint's monitor: what to measure over which window, and what crosses a line."""

    endpoint: str
    window: dt.timedelta = dt.timedelta(hours=24)
    reference: str | None = None
    thresholds: tuple[Threshold, ...] = ()
    segments: tuple[str, ...] = ()
    max_segments: int = 20
    kpis: Mapping[str, str] = field(default_factory=dict)
    webhooks: tuple[str, ...] = ()
    allow_link_local_webhooks: bool = False
    webhook_attempts: int = 5
    webhook_backoff_s: float = 0.5
    webhook_timeout_s: float = 5.0
    declared: bool = False  # whether mloop.toml has a [monitors.ENDPOINT] table

    @property
    def name(self) -> str:
        return self.endpoint


def metric_kind(metric: str) -> str | None:
    """The alert kind of a metric name, or None when a monitor measures no such metric."""
    if metric in METRICS:
        return METRICS[metric]
    prefix, dot, rest = metric.partition(".")
    return PREFIXES.get(prefix) if dot and rest else None


def _fail(endpoint: str, message: str) -> InvalidInput:
    return InvalidInput(f"[monitors.{endpoint}] in mloop.toml: {message}")


def _strings(endpoint: str, key: str, value: Any, example: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _fail(endpoint, f"{key} must be a list of strings like {example}, not {value!r}.")
    return list(value)


def _threshold(endpoint: str, text: str, kpis: Mapping[str, str]) -> Threshold:
    found = parse_threshold(text)
    if found is None:
        raise _fail(
            endpoint,
            f"threshold {text!r} is not 'METRIC OP NUMBER' (e.g. \"drift_share <= 0.3\").",
        )
    kind = metric_kind(found.metric)
    if kind is None:
        known = ", ".join(sorted(METRICS))
        raise _fail(
            endpoint,
            f"threshold {text!r} names no metric a monitor measures; use one of {known}, "
            "or estimated.METRIC, realised.METRIC, kpi.NAME, drift.COLUMN, null_rate.COLUMN.",
        )
    prefix, _, rest = found.metric.partition(".")
    if prefix in ("estimated", "realised") and rest not in PERFORMANCE_METRICS:
        raise _fail(
            endpoint,
            f"threshold {text!r}: {rest!r} is not a performance metric; "
            f"use one of {', '.join(PERFORMANCE_METRICS)}.",
        )
    if prefix == "estimated" and rest not in ESTIMATED_METRICS:
        raise _fail(
            endpoint,
            f"threshold {text!r}: {rest!r} is not estimated without labels (the estimate is of "
            f"classification metrics: {', '.join(ESTIMATED_METRICS)}); use realised.{rest}.",
        )
    if prefix == "kpi" and rest not in kpis:
        declared = ", ".join(sorted(kpis)) or "none are declared"
        raise _fail(
            endpoint,
            f"threshold {text!r} names KPI {rest!r}, which kpis does not declare ({declared}); "
            f'add it, e.g. kpis = {{ {rest} = "module:function" }}.',
        )
    return found


def check_webhook_url(url: str, *, allow_link_local: bool, where: str) -> str:
    """An http(s) URL with a host; a literal link-local or metadata address is refused here
    already (names are resolved and checked again before each delivery, see ``webhooks``)."""
    from mloop.monitoring.webhooks import refused_address  # one list of forbidden addresses

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput(
            f"{where}: webhook {url!r} is not an http:// or https:// URL with a host; "
            "only HTTP(S) webhooks are sent."
        )
    if not allow_link_local:
        try:
            address = ipaddress.ip_address(parts.hostname)
        except ValueError:
            address = None
        reason = refused_address(parts.hostname, address)
        if reason:
            raise InvalidInput(
                f"{where}: webhook {url!r} points at {reason}, which mloop refuses so an alert "
                "cannot reach cloud credentials; set allow_link_local_webhooks = true if you "
                "really mean it."
            )
    return url


def _number(endpoint: str, raw: Mapping[str, Any], key: str, default: float, *, whole: bool) -> Any:
    value = raw.get(key, default)
    kind = int if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or value <= 0:
        what = "a whole number >= 1" if whole else "a positive number"
        raise _fail(endpoint, f"{key} must be {what}, not {value!r}.")
    return value


def parse_monitor(endpoint: str, raw: Mapping[str, Any], *, declared: bool = True) -> MonitorConfig:
    """``[monitors.ENDPOINT]`` as a ``MonitorConfig``; raises ``InvalidInput`` naming the key."""
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise _fail(
            endpoint,
            f"unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(KNOWN_KEYS))}.",
        )
    window_text = raw.get("window", DEFAULT_WINDOW)
    if not isinstance(window_text, str):
        raise _fail(
            endpoint, f'window must be a duration in quotes like "24h", not {window_text!r}.'
        )
    try:
        window = parse_duration(window_text, option="window")
    except InvalidInput as exc:
        raise _fail(endpoint, exc.message) from None
    reference = raw.get("reference")
    if reference is not None and (not isinstance(reference, str) or "@" not in reference):
        raise _fail(
            endpoint, f'reference must be a dataset version "NAME@VERSION", not {reference!r}.'
        )
    kpis = raw.get("kpis", {})
    if not isinstance(kpis, Mapping):
        raise _fail(
            endpoint, f'kpis must be a table like {{ revenue = "kpis:revenue" }}, not {kpis!r}.'
        )
    for name, spec in kpis.items():
        if not _NAME.match(name):
            raise _fail(endpoint, f"KPI name {name!r} must be letters, digits and _ only.")
        if not isinstance(spec, str) or not _SPEC.match(spec):
            raise _fail(
                endpoint,
                f'kpis.{name} must be "MODULE:FUNCTION" (a module in the workspace folder), '
                f"not {spec!r}.",
            )
    listed = _strings(endpoint, "thresholds", raw.get("thresholds", []), '["drift_share <= 0.3"]')
    thresholds = tuple(_threshold(endpoint, text, kpis) for text in listed)
    if not declared or "thresholds" not in raw:
        thresholds = thresholds or tuple(_threshold(endpoint, t, kpis) for t in DEFAULT_THRESHOLDS)
    segments = _strings(endpoint, "segments", raw.get("segments", []), '["contract"]')
    for column in segments:
        if not column.strip():
            raise _fail(endpoint, "segments lists an empty column name; name input columns.")
    allow = raw.get("allow_link_local_webhooks", False)
    if not isinstance(allow, bool):
        raise _fail(endpoint, f"allow_link_local_webhooks must be true or false, not {allow!r}.")
    hooks = _strings(endpoint, "webhooks", raw.get("webhooks", []), '["https://example.com/hook"]')
    where = f"[monitors.{endpoint}] in mloop.toml"
    for url in hooks:
        check_webhook_url(url, allow_link_local=allow, where=where)
    return MonitorConfig(
        endpoint=endpoint,
        window=window,
        reference=reference,
        thresholds=thresholds,
        segments=tuple(dict.fromkeys(segments)),
        max_segments=_number(endpoint, raw, "max_segments", 20, whole=True),
        kpis=dict(kpis),
        webhooks=tuple(hooks),
        allow_link_local_webhooks=allow,
        webhook_attempts=_number(endpoint, raw, "webhook_attempts", 5, whole=True),
        webhook_backoff_s=float(_number(endpoint, raw, "webhook_backoff_s", 0.5, whole=False)),
        webhook_timeout_s=float(_number(endpoint, raw, "webhook_timeout_s", 5.0, whole=False)),
        declared=declared,
    )


def monitor_config(raw_settings: Mapping[str, Any], endpoint: str) -> MonitorConfig:
    """The monitor of ``endpoint`` from the whole ``mloop.toml`` (``Settings.raw``).

    An endpoint without a table gets the defaults: a 24 h window, dataset drift over half the
    columns, no webhooks. Every declared monitor is checked, so one typo anywhere is caught.
    """
    monitors = raw_settings.get("monitors", {})
    if not isinstance(monitors, Mapping):
        raise InvalidInput(
            "[monitors] in mloop.toml must hold one table per endpoint, like [monitors.churn]."
        )
    parsed = {}
    for name, table in monitors.items():
        if not isinstance(table, Mapping):
            raise InvalidInput(
                f"monitors.{name} in mloop.toml must be a table ([monitors.{name}]), not {table!r}."
            )
        parsed[name] = parse_monitor(name, table)
    return parsed.get(endpoint) or parse_monitor(endpoint, {}, declared=False)
