"""Alerts: a threshold a monitor saw crossed, stored once per crossing and window, with the
delivery of each webhook it was sent to.

One JSON shape everywhere (the webhook body, ``mloop alerts ls --json``, ``Alert.to_dict``)::

    {"id": "01k…", "endpoint": "churn", "monitor": "churn", "kind": "drift",
     "metric": "drift_share", "value": 0.42, "threshold": "drift_share <= 0.3",
     "window": {"start": "2026-03-01T00:00:00+00:00", "end": "2026-03-02T00:00:00+00:00"},
     "message": "drift_share 0.42 is above 0.3: 8 of 19 columns drifted …",
     "created_at": "2026-03-02T00:00:03+00:00",
     "deliveries": [{"url": "https://hooks.example.com/mloop", "attempts": 3, "status": "delivered"}]}

``kind`` is drift, performance, latency, null_rate, kpi, or operations (error, rejection and
shadow-disagreement rates, throughput). A delivery's status is pending, delivered, failed (the
receiver never answered 2xx within the attempts) or refused (an address the SSRF rule forbids).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from mloop.store import Store
from mloop.store import tables as t


def utc(value: dt.datetime) -> dt.datetime:
    """SQLite hands back naive datetimes; the store writes UTC, so they are UTC."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


@dataclass(frozen=True)
class DeliveryState:
    url: str
    attempts: int
    status: str
    last_error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"url": self.url, "attempts": self.attempts, "status": self.status}


@dataclass(frozen=True)
class Alert:
    id: str
    endpoint: str
    monitor: str
    kind: str
    metric: str
    value: float | None
    threshold: str
    window_start: dt.datetime
    window_end: dt.datetime
    message: str
    created_at: dt.datetime
    deliveries: tuple[DeliveryState, ...] = field(default=())
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "endpoint": self.endpoint,
            "monitor": self.monitor,
            "kind": self.kind,
            "metric": self.metric,
            "value": self.value,
            "threshold": self.threshold,
            "window": {"start": self.window_start.isoformat(), "end": self.window_end.isoformat()},
            "message": self.message,
            "created_at": self.created_at.isoformat(),
            "deliveries": [d.to_dict() for d in self.deliveries],
        }


def _deliveries(conn: sa.Connection, ids: Sequence[str]) -> dict[str, list[DeliveryState]]:
    found: dict[str, list[DeliveryState]] = {i: [] for i in ids}
    if not ids:
        return found
    rows = conn.execute(
        sa.select(t.alert_deliveries)
        .where(t.alert_deliveries.c.alert_id.in_(list(ids)))
        .order_by(t.alert_deliveries.c.id)
    )
    for r in rows:
        found[r.alert_id].append(DeliveryState(r.url, r.attempts, r.status, r.last_error))
    return found


def _alert(row: Any, deliveries: Sequence[DeliveryState]) -> Alert:
    return Alert(
        id=row.id,
        endpoint=row.endpoint,
        monitor=row.monitor,
        kind=row.kind,
        metric=row.metric,
        value=row.value,
        threshold=row.threshold,
        window_start=utc(row.window_start),
        window_end=utc(row.window_end),
        message=row.message,
        created_at=utc(row.created_at),
        deliveries=tuple(deliveries),
        run_id=row.run_id,
    )


def read_alerts(conn: sa.Connection, *where: Any, limit: int | None = None) -> list[Alert]:
    query = (
        sa.select(t.alerts)
        .where(*where)
        .order_by(t.alerts.c.created_at.desc(), t.alerts.c.id.desc())
    )
    if limit is not None:
        query = query.limit(limit)
    rows = list(conn.execute(query))
    deliveries = _deliveries(conn, [r.id for r in rows])
    return [_alert(r, deliveries[r.id]) for r in rows]


def list_alerts(
    store: Store, *, endpoint: str | None = None, limit: int | None = None
) -> list[Alert]:
    """Alerts, newest first; only ``endpoint``'s when given."""
    where = [] if endpoint is None else [t.alerts.c.endpoint == endpoint]
    with store.read() as conn:
        return read_alerts(conn, *where, limit=limit)


def open_crossing(
    conn: sa.Connection,
    *,
    endpoint: str,
    monitor: str,
    threshold: str,
    start: dt.datetime,
    end: dt.datetime,
) -> Alert | None:
    """An alert already raised for the same crossing in an overlapping window, if any.

    A 24 h monitor run every hour sees yesterday's drift again each time; it is one event, so it
    is alerted once per window length, not once per run.
    """
    found = read_alerts(
        conn,
        t.alerts.c.endpoint == endpoint,
        t.alerts.c.monitor == monitor,
        t.alerts.c.threshold == threshold,
        t.alerts.c.window_end > start,
        t.alerts.c.window_start < end,
        limit=1,
    )
    return found[0] if found else None
