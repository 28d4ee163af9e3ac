"""``evaluate``: one run of an endpoint's monitor over a window of its prediction log.

It measures every figure (operations, input null rates, KPIs, and drift and performance where
their services answer), per model version and per segment, stores each as a point of a time
series (``monitor_points``), checks the thresholds on the whole window, stores a crossing as an
alert unless the same crossing was already alerted in an overlapping window, delivers new alerts
to the webhooks (bounded retries, so they are sent before this returns) and says in plain words
what it found. The CLI (`mloop monitor`), the report and the retraining policies all read the
``MonitorResult`` it returns.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import sqlalchemy as sa

from mloop.errors import InvalidInput
from mloop.ids import new_id
from mloop.monitoring.alerts import Alert, open_crossing, read_alerts
from mloop.monitoring.kpis import load_kpis, measure_kpis
from mloop.monitoring.monitor_config import MonitorConfig, metric_kind, monitor_config
from mloop.monitoring.operations import Point, answered_predictions, measure, served_window
from mloop.monitoring.summary import Check, check_thresholds, summarise
from mloop.monitoring.webhooks import Delivery, deliver
from mloop.predlog import check_endpoint, connect, folder_for
from mloop.predlog.timespec import as_utc, parse_duration, parse_when
from mloop.store import Store
from mloop.store import tables as t
from mloop.workspace import Workspace

if TYPE_CHECKING:
    from mloop.artifacts import ArtifactStore
    from mloop.monitoring.drift import DriftReport
    from mloop.monitoring.monitor_figures import Figures


@dataclass(frozen=True)
class MonitorResult:
    """What one monitor run measured and decided; ``passed`` is False when a threshold crossed."""

    id: str
    endpoint: str
    monitor: str
    window_start: dt.datetime
    window_end: dt.datetime
    records: int
    passed: bool
    summary: str
    checks: tuple[Check, ...]
    points: tuple[Point, ...]
    alerts: tuple[Alert, ...]
    reference: str | None = None
    notes: tuple[str, ...] = ()
    drift: DriftReport | None = field(default=None, compare=False, repr=False)

    def point(
        self,
        metric: str,
        *,
        segment: str | None = None,
        version: str | None = None,
        role: str | None = None,
    ) -> float | None:
        """The value of ``metric`` for the whole window, a segment (``column=value``), or a
        version (``model@N``) in a role (any when None); None when not measured."""
        for p in self.points:
            ref = None if p.model is None else f"{p.model}@{p.version}"
            if p.metric != metric or p.segment != segment or ref != version:
                continue
            if role is None or p.role == role:
                return p.value
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "monitor": self.monitor,
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat()},
            "records": self.records,
            "reference": self.reference,
            "passed": self.passed,
            "summary": self.summary,
            "checks": [c.to_dict() for c in self.checks],
            "points": [p.to_dict() for p in self.points],
            "alerts": [a.to_dict() for a in self.alerts],
            "notes": list(self.notes),
            "drift": None if self.drift is None else self.drift.to_json(),
        }


def parse_window(
    text: str | None, *, default: dt.timedelta, now: dt.datetime
) -> tuple[dt.datetime, dt.datetime]:
    """``24h`` (ending now), ``START/END`` in ISO 8601 (UTC if bare), or the monitor's default."""
    if text is None:
        return now - default, now
    if "/" in text:
        first, _, second = text.partition("/")
        start = parse_when(first, option="--window start", now=now)
        end = parse_when(second, option="--window end", now=now)
        if end <= start:
            raise InvalidInput(
                f"--window {text!r} ends before it starts; write START/END with START first."
            )
        return start, end
    return now - parse_duration(text, option="--window"), now


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else value


def _version_ids(conn: sa.Connection, points: Sequence[Point]) -> dict[tuple[str, int], str]:
    pairs = {(p.model, p.version) for p in points if p.model is not None and p.version is not None}
    if not pairs:
        return {}
    rows = conn.execute(
        sa.select(t.models.c.name, t.model_versions.c.version, t.model_versions.c.id)
        .join(t.models, t.models.c.id == t.model_versions.c.model_id)
        .where(t.models.c.name.in_(sorted({m for m, _ in pairs if m is not None})))
    )
    return {(r.name, r.version): r.id for r in rows}


def _store(
    store: Store,
    config: MonitorConfig,
    *,
    run_id: str,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    actor: str,
    points: Sequence[Point],
    checks: Sequence[Check],
    summary: str,
    details: dict[str, Any],
) -> list[str]:
    """The run, its points and its new alerts (with pending deliveries), in one transaction.

    Returns the ids of the alerts raised by this run (crossings already alerted in an
    overlapping window are not raised again).
    """
    endpoint = config.endpoint
    raised = []
    with store.transaction() as conn:
        conn.execute(
            t.monitor_runs.insert().values(
                id=run_id,
                endpoint=endpoint,
                monitor=config.name,
                window_start=start,
                window_end=end,
                passed=not any(c.crossed for c in checks),
                summary=summary,
                details=details,
                created_at=now,
                created_by=actor,
            )
        )
        ids = _version_ids(conn, points)
        rows = [
            {
                "id": new_id(),
                "run_id": run_id,
                "endpoint": endpoint,
                "metric": p.metric,
                "segment": p.segment,
                "model_version_id": None
                if p.model is None or p.version is None
                else ids.get((p.model, p.version)),
                "role": p.role,
                "window_start": start,
                "window_end": end,
                "value": _finite(p.value),
            }
            for p in points
        ]
        if rows:
            conn.execute(t.monitor_points.insert(), rows)
        for check in checks:
            if not check.crossed:
                continue
            threshold = str(check.threshold)
            earlier = open_crossing(
                conn,
                endpoint=endpoint,
                monitor=config.name,
                threshold=threshold,
                start=start,
                end=end,
            )
            if earlier is not None:
                check.alerted_before = earlier.id
                continue
            alert_id = new_id()
            conn.execute(
                t.alerts.insert().values(
                    id=alert_id,
                    run_id=run_id,
                    endpoint=endpoint,
                    monitor=config.name,
                    kind=metric_kind(check.threshold.metric) or "operations",
                    metric=check.threshold.metric,
                    value=_finite(check.value),
                    threshold=threshold,
                    window_start=start,
                    window_end=end,
                    message=check.sentence,
                    created_at=now,
                )
            )
            if config.webhooks:
                conn.execute(
                    t.alert_deliveries.insert(),
                    [
                        {
                            "id": new_id(),
                            "alert_id": alert_id,
                            "url": url,
                            "attempts": 0,
                            "status": "pending",
                        }
                        for url in config.webhooks
                    ],
                )
            check.alert_id = alert_id
            raised.append(alert_id)
    return raised


def _record_attempt(store: Store, alert_id: str) -> Callable[[Delivery], None]:
    def record(delivery: Delivery) -> None:
        with store.transaction() as conn:
            conn.execute(
                t.alert_deliveries.update()
                .where(
                    t.alert_deliveries.c.alert_id == alert_id,
                    t.alert_deliveries.c.url == delivery.url,
                )
                .values(
                    attempts=delivery.attempts,
                    status=delivery.status,
                    last_error=delivery.last_error,
                    last_attempt_at=delivery.last_attempt_at,
                    delivered_at=delivery.delivered_at,
                )
            )

    return record


def deliver_alerts(store: Store, config: MonitorConfig, alert_ids: Sequence[str]) -> None:
    """POST each alert to each webhook, recording every attempt on its delivery row."""
    if not alert_ids or not config.webhooks:
        return
    with store.read() as conn:
        alerts = read_alerts(conn, t.alerts.c.id.in_(list(alert_ids)))
    for alert in sorted(alerts, key=lambda a: a.id):
        body = alert.to_dict()
        for url in config.webhooks:
            deliver(
                url,
                body,
                attempts=config.webhook_attempts,
                backoff_s=config.webhook_backoff_s,
                timeout_s=config.webhook_timeout_s,
                allow_link_local=config.allow_link_local_webhooks,
                on_attempt=_record_attempt(store, alert.id),
            )


def _kpi_window(
    folder: Path, endpoint: str, start: dt.datetime, end: dt.datetime, config: MonitorConfig
) -> pa.Table:
    """The served records with their ``label`` (null until feedback came) and segments."""
    from mloop.monitoring.feedback import connect_labelled

    con = connect_labelled(folder, endpoint, since=start, until=end)
    try:
        return served_window(
            con,
            start,
            end,
            segments=config.segments,
            max_segments=config.max_segments,
            source="labelled",
        )
    finally:
        con.close()


def _performance(
    store: Store,
    artifacts: ArtifactStore,
    folder: Path,
    endpoint: str,
    *,
    start: dt.datetime,
    end: dt.datetime,
    segments: Sequence[str],
) -> Figures:
    # imported in this thread: loading the drift and performance stack (pandas, the profiles)
    # takes a core for a while, and the operations query runs meanwhile in DuckDB's threads
    from mloop.monitoring.monitor_figures import performance_figures

    return performance_figures(
        store, artifacts, folder, endpoint, start=start, end=end, segments=segments
    )


def _features(store: Store, con: Any, start: dt.datetime, end: dt.datetime) -> set[str] | None:
    """The columns the model versions logged in the window read (None when one is unknown):
    a field a client sent that none of them reads has no null rate."""
    from mloop.errors import NotFound
    from mloop.registry.versions import resolve

    logged = con.execute(
        "SELECT DISTINCT model, version FROM log WHERE timestamp >= $start AND timestamp < $end "
        "AND model IS NOT NULL AND version IS NOT NULL",
        {"start": start, "end": end},
    ).fetchall()
    found: set[str] = set()
    for model, version in logged:
        try:
            names = resolve(store, f"{model}@{version}").signature.input_names
        except NotFound:
            return None
        if not names:
            return None
        found.update(names)
    return found or None


def evaluate(
    ws: Workspace,
    endpoint: str,
    *,
    window: str | tuple[dt.datetime, dt.datetime] | None = None,
    now: dt.datetime | None = None,
    deliver_webhooks: bool = True,
) -> MonitorResult:
    """Run ``endpoint``'s monitor (``[monitors.ENDPOINT]`` in mloop.toml) over ``window``.

    ``window`` is ``"24h"`` (ending ``now``), ``"START/END"`` in ISO 8601, a pair of datetimes,
    or None for the monitor's own window. Stores the run, every figure and new alerts, and
    delivers the alerts before returning. Raises ``InvalidInput`` for a bad window, setting or
    KPI, ``NotFound`` when nothing was ever logged for ``endpoint``.
    """
    check_endpoint(endpoint)
    now = as_utc(now or dt.datetime.now(dt.UTC))
    config = monitor_config(ws.settings.raw, endpoint)
    if isinstance(window, tuple):
        start, end = as_utc(window[0]), as_utc(window[1])
        if end <= start:
            raise InvalidInput("The window ends before it starts; pass (start, end).")
    else:
        start, end = parse_window(window, default=config.window, now=now)
    kpis = load_kpis(config.kpis, root=ws.root)
    folder = folder_for(ws.settings)
    previous_start = start - (end - start)
    con = connect(folder, endpoint, since=previous_start, until=end)
    notes: list[str] = []
    lead: list[str] = []
    drift_report = None
    with ThreadPoolExecutor(max_workers=1) as pool:
        # performance reads the window (and labels) on its own connection: it runs beside the
        # operations and the drift, all mostly in numpy, pyarrow and DuckDB, which release the GIL
        performance: Future[Figures] | None = pool.submit(
            _performance,
            ws.store,
            ws.artifacts,
            folder,
            endpoint,
            start=start,
            end=end,
            segments=config.segments,
        )
        try:
            features = _features(ws.store, con, start, end)
            operations = measure(
                con,
                start,
                end,
                segments=config.segments,
                max_segments=config.max_segments,
                features=features,
            )
            points = list(operations.points)
            if not operations.records:
                assert performance is not None
                performance.cancel()
                performance = None
            if operations.records:
                from mloop.monitoring.monitor_figures import drift_figures, drift_reference

                reference = drift_reference(
                    ws.store, folder, reference=config.reference, endpoint=endpoint
                )
                table = (
                    _kpi_window(folder, endpoint, start, end, config)
                    if kpis
                    else served_window(
                        con, start, end, inputs_only=True, nulls_only=reference.free_text
                    )
                )
                previous = answered_predictions(con, previous_start, start)
                drift = drift_figures(
                    reference,
                    endpoint=endpoint,
                    window=table,
                    predictions=answered_predictions(con, start, end),
                    previous=previous if previous.num_rows else None,
                    thresholds=config.thresholds,
                    label=f"{endpoint}:{start.isoformat()}/{end.isoformat()}",
                    features=features,
                )
                points += drift.points
                notes += drift.notes
                lead += drift.lead
                drift_report = drift.drift
                points += measure_kpis(table, kpis, segments=config.segments)
        finally:
            con.close()
        if performance is not None:
            measured = performance.result()
            points += measured.points
            notes += measured.notes
    checks = check_thresholds(config.thresholds, points)
    summary = summarise(checks, points, records=operations.records, start=start, end=end, lead=lead)
    run_id = new_id()
    details = {
        "records": operations.records,
        "checks": [c.to_dict() for c in checks],
        "segments": list(config.segments),
        "reference": None if drift_report is None else drift_report.reference,
        "notes": notes,
    }
    raised = _store(
        ws.store,
        config,
        run_id=run_id,
        start=start,
        end=end,
        now=now,
        actor=ws.user,
        points=points,
        checks=checks,
        summary=summary,
        details=details,
    )
    if deliver_webhooks:
        deliver_alerts(ws.store, config, raised)
    with ws.store.read() as conn:
        alerts = read_alerts(conn, t.alerts.c.id.in_(raised)) if raised else []
    return MonitorResult(
        id=run_id,
        endpoint=endpoint,
        monitor=config.name,
        window_start=start,
        window_end=end,
        records=operations.records,
        passed=not any(c.crossed for c in checks),
        summary=summary,
        checks=tuple(checks),
        points=tuple(points),
        alerts=tuple(alerts),
        reference=None if drift_report is None else drift_report.reference,
        notes=tuple(notes),
        drift=drift_report,
    )


__all__ = ["MonitorResult", "deliver_alerts", "evaluate", "parse_window"]
