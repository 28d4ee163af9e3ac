"""A monitor run as an HTML report page (``mloop monitor ENDPOINT --report F.html``).

Top: the verdict, the summary and why a figure is missing. Then the checks, each column's
reference-vs-current distribution with its drift verdict (the drift page's comparisons), every
checked figure over time from the stored points of earlier runs (estimated and realised side by
side, the threshold drawn), the figures per model version and per segment, and the endpoint's
recent alerts with their webhook deliveries. The renderer (``report``) escapes every value.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import sqlalchemy as sa

from mloop.monitoring.alerts import list_alerts, utc
from mloop.monitoring.drift_page import drift_page
from mloop.monitoring.monitor import MonitorResult
from mloop.monitoring.monitor_config import MonitorConfig
from mloop.monitoring.report import write_report
from mloop.monitoring.report_page import (
    Direction,
    KeyFigure,
    ReportPage,
    Section,
    Series,
    Table,
    Threshold,
    TimeSeriesChart,
)
from mloop.monitoring.summary import label
from mloop.store import Store
from mloop.store import tables as t

HISTORY_RUNS = 500  # points per series: the newest runs
ALWAYS_CHARTED = ("drift_share", "latency_p99_ms", "error_rate", "estimated.roc_auc")
TABLE_METRICS = (
    "predictions",
    "latency_p99_ms",
    "error_rate",
    "rejection_rate",
    "shadow_disagreement_rate",
    "estimated.roc_auc",
    "realised.roc_auc",
)


def _history(
    store: Store, endpoint: str, metrics: Sequence[str]
) -> dict[str, list[tuple[dt.datetime, float | None]]]:
    """Each metric's whole-window value per stored run, oldest first."""
    found: dict[str, list[tuple[dt.datetime, float | None]]] = {m: [] for m in metrics}
    points = t.monitor_points.c
    with store.read() as conn:
        rows = conn.execute(
            sa.select(points.metric, points.window_end, points.value)
            .where(
                points.endpoint == endpoint,
                points.metric.in_(list(metrics)),
                points.segment.is_(None),
                points.role.is_(None),
                points.model_version_id.is_(None),
            )
            .order_by(points.window_end.desc())
            .limit(HISTORY_RUNS * max(len(metrics), 1))
        )
        for row in rows:
            found[row.metric].append((utc(row.window_end), row.value))
    return {m: sorted(series, key=lambda p: p[0]) for m, series in found.items()}


def _charts(store: Store, result: MonitorResult) -> list[TimeSeriesChart]:
    """A chart per checked figure (and the usual ones), estimated beside realised."""
    thresholds = {c.threshold.metric: c.threshold for c in result.checks}
    measured = {p.metric for p in result.points if p.segment is None and p.model is None}
    wanted = [m for m in dict.fromkeys([*thresholds, *ALWAYS_CHARTED]) if m in measured]
    groups: dict[str, list[str]] = {}
    for metric in wanted:
        if metric.startswith(("estimated.", "realised.")):
            name = metric.split(".", 1)[1]
            groups[name] = [f"estimated.{name}", f"realised.{name}"]
        else:
            groups.setdefault(metric, [metric])
    history = _history(store, result.endpoint, [n for names in groups.values() for n in names])
    charts = []
    for title, names in groups.items():
        series = [
            Series(label(n), history[n], dashed=n.startswith("estimated."))
            for n in names
            if history.get(n)
        ]
        if not series:
            continue
        rule = next((thresholds[n] for n in names if n in thresholds), None)
        charts.append(
            TimeSeriesChart(
                title=label(title) if len(names) == 1 else f"{title}: estimated and realised",
                series=series,
                threshold=None
                if rule is None
                else Threshold(rule.value, cast(Direction, rule.op), str(rule)),
                unit="ms" if title.endswith("_ms") else "",
            )
        )
    return charts


def _value(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _tables(result: MonitorResult) -> list[Table]:
    checks = Table(
        "Checks",
        ["metric", "value", "threshold", "verdict", "worst segment"],
        [
            (
                c.threshold.metric,
                _value(c.value),
                str(c.threshold),
                c.status + (" (alerted before)" if c.alerted_before else ""),
                "" if c.worst_segment is None else f"{c.worst_segment}: {_value(c.worst_value)}",
            )
            for c in result.checks
        ],
        flagged=[c.crossed for c in result.checks],
    )
    versions: dict[tuple[str, str], dict[str, float | None]] = {}
    segments: dict[str, dict[str, float | None]] = {}
    kpis = sorted({p.metric for p in result.points if p.metric.startswith("kpi.")})
    for p in result.points:
        if p.model is not None:
            versions.setdefault((f"{p.model}@{p.version}", p.role or ""), {})[p.metric] = p.value
        elif p.segment is not None:
            segments.setdefault(p.segment, {})[p.metric] = p.value
    by_version = Table(
        "By model version and role",
        ["version", "role", *TABLE_METRICS],
        [(v, r, *(_value(f.get(m)) for m in TABLE_METRICS)) for (v, r), f in versions.items()],
    )
    columns = [*TABLE_METRICS[:3], "null_rate", "estimated.roc_auc", "realised.roc_auc", *kpis]
    by_segment = Table(
        "By segment",
        ["segment", *columns],
        [(s, *(_value(f.get(m)) for m in columns)) for s, f in sorted(segments.items())],
        description="Each segment is the records whose input had that value.",
    )
    return [checks, by_version, by_segment]


def monitor_page(store: Store, result: MonitorResult, config: MonitorConfig) -> ReportPage:
    sections = [Section("Verdict", _tables(result)[:1])]
    if result.drift is not None:
        drift = drift_page(result.drift)
        sections.append(
            Section(
                "Drift by column",
                drift.sections[0].blocks,
                intro=f"The window's inputs against {result.drift.reference}.",
            )
        )
    charts = _charts(store, result)
    if charts:
        sections.append(Section("Over time", charts, intro="One point per monitor run."))
    sections.append(Section("Versions and segments", _tables(result)[1:]))
    alerts = list_alerts(store, endpoint=result.endpoint, limit=20)
    if alerts:
        sections.append(
            Section(
                "Alerts",
                [
                    Table(
                        "Recent alerts",
                        ["created (UTC)", "kind", "threshold", "value", "message", "webhooks"],
                        [
                            (
                                a.created_at,
                                a.kind,
                                a.threshold,
                                _value(a.value),
                                a.message,
                                ", ".join(
                                    f"{d.url}: {d.status} after {d.attempts}" for d in a.deliveries
                                ),
                            )
                            for a in alerts
                        ],
                        flagged=[
                            any(d.status != "delivered" for d in a.deliveries) for a in alerts
                        ],
                    )
                ],
            )
        )
    figures = [KeyFigure("Predictions", f"{result.records:,}")]
    figures += [
        KeyFigure(
            label(c.threshold.metric), "-" if c.value is None else f"{c.value:.3g}", c.crossed
        )
        for c in result.checks[:6]
    ]
    context = [
        (
            "Window",
            f"{result.window_start:%Y-%m-%d %H:%M} → {result.window_end:%Y-%m-%d %H:%M} UTC",
        ),
        ("Reference", result.reference or "none"),
    ]
    if config.segments:
        context.append(("Segments", ", ".join(config.segments)))
    return ReportPage(
        title=f"Monitor: {result.endpoint}",
        verdict="ok" if result.passed else "alert",
        summary=[result.summary, *(f"Note: {n}." for n in result.notes)],
        sections=sections,
        figures=figures,
        context=context,
    )


def write_monitor_report(
    store: Store, result: MonitorResult, config: MonitorConfig, path: str | os.PathLike[str]
) -> Path:
    """Write the run's report to ``path`` (atomically); returns the path written."""
    return write_report(monitor_page(store, result, config), path)
