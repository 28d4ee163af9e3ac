"""Monitoring: evaluations of a monitor, the figures they measured, alerts and their deliveries.

A monitor run is one evaluation of an endpoint's window; every figure it measured is a row of
``monitor_points`` (a time series keyed by endpoint, metric, segment, model version and role), so
reports draw history without recomputing it. An alert is a threshold crossing; each webhook it is
sent to has a delivery row whose attempts and status move as retries happen. Runs, points and
alerts are written once; deliveries are updated in place.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(length=32)
NAME = sa.String(length=255)
WHEN = sa.DateTime(timezone=True)
DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    op.create_table(
        "monitor_runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("endpoint", NAME, nullable=False),
        sa.Column("monitor", NAME, nullable=False),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("window_end", WHEN, nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_runs")),
    )
    op.create_index(
        op.f("ix_monitor_runs_endpoint_created_at"), "monitor_runs", ["endpoint", "created_at"]
    )
    op.create_table(
        "monitor_points",
        sa.Column("id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("endpoint", NAME, nullable=False),
        sa.Column("metric", NAME, nullable=False),
        sa.Column("segment", sa.Text(), nullable=True),
        sa.Column("model_version_id", ID, nullable=True),
        sa.Column("role", sa.String(length=16), nullable=True),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("window_end", WHEN, nullable=False),
        sa.Column("value", DOUBLE, nullable=True),
        sa.ForeignKeyConstraint(
            ["run_id"], ["monitor_runs.id"], name=op.f("fk_monitor_points_run_id_monitor_runs")
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_monitor_points_model_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitor_points")),
    )
    op.create_index(
        op.f("ix_monitor_points_endpoint_metric_window_end"),
        "monitor_points",
        ["endpoint", "metric", "window_end"],
    )
    op.create_index(op.f("ix_monitor_points_run_id"), "monitor_points", ["run_id"])
    op.create_table(
        "alerts",
        sa.Column("id", ID, nullable=False),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("endpoint", NAME, nullable=False),
        sa.Column("monitor", NAME, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("metric", NAME, nullable=False),
        sa.Column("value", DOUBLE, nullable=True),
        sa.Column("threshold", sa.Text(), nullable=False),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("window_end", WHEN, nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["monitor_runs.id"], name=op.f("fk_alerts_run_id_monitor_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index(op.f("ix_alerts_endpoint_created_at"), "alerts", ["endpoint", "created_at"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", ID, nullable=False),
        sa.Column("alert_id", ID, nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_attempt_at", WHEN, nullable=True),
        sa.Column("delivered_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_deliveries_alert_id_alerts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alert_deliveries")),
    )
    op.create_index(op.f("ix_alert_deliveries_alert_id"), "alert_deliveries", ["alert_id"])


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
    op.drop_table("monitor_points")
    op.drop_table("monitor_runs")
