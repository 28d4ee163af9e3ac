"""What ``GET /metrics`` shows, in Prometheus text format: one registry per app, not the global one.

Counters are bumped on the request path with labels only (cheap); anything another component
already counts (the prediction log's queue and totals) is read at scrape time by a collector, so
the two numbers can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
    10.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class _LogCollector(Collector):
    """Prediction-log figures read from the log itself (``PredictionLog.stats()``) at scrape time."""

    def __init__(self, stats: Callable[[], Mapping[str, Any]]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "mloop_prediction_log_queue_depth",
            "Records waiting for the prediction log's writer.",
            labels=["endpoint"],
        )
        written = CounterMetricFamily(
            "mloop_prediction_log_written",
            "Records written to the prediction log.",
            labels=["endpoint"],
        )
        dropped = CounterMetricFamily(
            "mloop_prediction_log_dropped",
            "Records the prediction log dropped (only with log_durability = off and a full queue).",
            labels=["endpoint"],
        )
        for endpoint, figures in _per_endpoint(self._stats()).items():
            depth.add_metric([endpoint], float(figures.get("queue_depth", 0)))
            written.add_metric([endpoint], float(figures.get("written", 0)))
            dropped.add_metric([endpoint], float(figures.get("dropped", 0)))
        yield depth
        yield written
        yield dropped


def _per_endpoint(stats: Mapping[str, Any]) -> Mapping[str, Mapping[str, Any]]:
    """``stats["endpoints"]`` when the log reports per endpoint there; else accepts ``{endpoint: {queue_depth, written, dropped}}`` or the same keys mapping to
    ``{endpoint: n}``: whichever shape the log reports."""
    if isinstance(stats.get("endpoints"), Mapping):
        return {str(k): v for k, v in stats["endpoints"].items()}
    if all(isinstance(v, Mapping) for v in stats.values()) and not {
        "queue_depth",
        "written",
        "dropped",
    } & set(stats):
        return {str(k): v for k, v in stats.items()}
    out: dict[str, dict[str, Any]] = {}
    for key in ("queue_depth", "written", "dropped"):
        value = stats.get(key, {})
        if isinstance(value, Mapping):
            for endpoint, n in value.items():
                out.setdefault(str(endpoint), {})[key] = n
        elif key != "queue_depth" or value:
            out.setdefault("", {})[key] = value
    return out


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "mloop_requests",
            "Requests answered, by endpoint, model, version, role and HTTP status.",
            ["endpoint", "model", "version", "role", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "mloop_request_duration_seconds",
            "Time from the request's arrival to its answer.",
            ["endpoint", "role"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "mloop_in_flight_requests", "Requests being worked on.", ["endpoint"], registry=r
        )
        self.batch_rows = Histogram(
            "mloop_batch_rows",
            "Rows in each micro-batched predict call.",
            ["endpoint", "model", "version"],
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.predictions = Counter(
            "mloop_predictions",
            "Predictions made, by class for classifiers.",
            ["endpoint", "model", "version", "role", "class"],
            registry=r,
        )
        self.shadow_shed = Counter(
            "mloop_shadow_shed",
            "Shadow scorings skipped because the endpoint was busy (shed before the primary).",
            ["endpoint"],
            registry=r,
        )
        self.shadow_compared = Counter(
            "mloop_shadow_compared",
            "Rows scored by both the shadow and the model that answered, by agreement.",
            ["endpoint", "outcome"],
            registry=r,
        )
        self.reused_ids = Counter(
            "mloop_request_ids_reused",
            "Requests whose X-Request-ID one of the endpoint's recent requests already had; "
            "a label for that id counts once, against the newest answer.",
            ["endpoint"],
            registry=r,
        )
        self.validation_warnings = Counter(
            "mloop_validation_warnings",
            "Rule violations scored anyway (on_invalid = warn), by column and rule.",
            ["endpoint", "column", "rule"],
            registry=r,
        )
        self.rejected_rows = Counter(
            "mloop_validation_rejections",
            "Requests refused with 422 because a row broke the model's rules.",
            ["endpoint"],
            registry=r,
        )
        self.ready = Gauge(
            "mloop_endpoint_ready",
            "1 when the endpoint has a loaded model.",
            ["endpoint"],
            registry=r,
        )
        self.revision = Gauge(
            "mloop_endpoint_revision",
            "The endpoint revision being served.",
            ["endpoint"],
            registry=r,
        )

    def watch_log(self, stats: Callable[[], Mapping[str, Any]]) -> None:
        self.registry.register(_LogCollector(stats))

    def count_classes(
        self,
        endpoint: str,
        model: str,
        version: str,
        role: str,
        predictions: Sequence[Any],
        *,
        classifier: bool,
    ) -> None:
        """Per-class counts for a batch of answers: one ``np.unique``, one ``inc`` per class.

        A regressor's answers are counted under an empty class (each number is not a class)."""
        if not len(predictions):
            return
        if not classifier:
            self.predictions.labels(endpoint, model, version, role, "").inc(len(predictions))
            return
        values = np.asarray([str(p) for p in predictions if p is not None])
        if not values.size:
            return
        classes, counts = np.unique(values, return_counts=True)
        for label, count in zip(classes.tolist(), counts.tolist(), strict=True):
            self.predictions.labels(endpoint, model, version, role, label).inc(count)

    def render(self) -> bytes:
        return generate_latest(self.registry)
