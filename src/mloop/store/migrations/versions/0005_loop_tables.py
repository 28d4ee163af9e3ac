"""The closed loop: sweeps' parent runs, retraining jobs with leases, pipelines, rollouts.

Runs get ``parent_run_id`` (a sweep's trials are children of one run). ``jobs`` gets what a
retraining job needs beside a batch job's columns: its endpoint and trigger, attempts, the lease an
agent holds while it runs it (so two agents never run one job at once and a killed agent's job is
noticed when the lease lapses), the job a coalesced trigger joined, and why it ended. Pipeline runs
and their steps carry each step's cache key; rollouts record a guarded canary or shadow from start
to verdict; agent_state remembers which alerts, dataset versions and schedule ticks an agent has
already acted on.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ID = sa.String(length=32)
NAME = sa.String(length=255)
WHEN = sa.DateTime(timezone=True)
DOUBLE = sa.Float(precision=53)


def upgrade() -> None:
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parent_run_id", ID, nullable=True))
        batch_op.create_index(batch_op.f("ix_runs_parent_run_id"), ["parent_run_id"])
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("endpoint", NAME, nullable=True))
        batch_op.add_column(sa.Column("trigger", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("lease_owner", NAME, nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", WHEN, nullable=True))
        batch_op.add_column(sa.Column("joined_job_id", ID, nullable=True))
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("updated_at", WHEN, nullable=True))
        batch_op.create_index(
            batch_op.f("ix_jobs_kind_endpoint_status"), ["kind", "endpoint", "status"]
        )
    op.create_table(
        "pipeline_runs",
        sa.Column("id", ID, nullable=False),
        sa.Column("pipeline", NAME, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resumed_from", ID, nullable=True),
        sa.Column("executor", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("created_by", NAME, nullable=False),
        sa.ForeignKeyConstraint(
            ["resumed_from"],
            ["pipeline_runs.id"],
            name=op.f("fk_pipeline_runs_resumed_from_pipeline_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_runs")),
    )
    op.create_index(op.f("ix_pipeline_runs_pipeline"), "pipeline_runs", ["pipeline"])
    op.create_table(
        "pipeline_steps",
        sa.Column("id", ID, nullable=False),
        sa.Column("pipeline_run_id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("cached", sa.Boolean(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("cached_from", ID, nullable=True),
        sa.Column("seconds", DOUBLE, nullable=True),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.ForeignKeyConstraint(
            ["pipeline_run_id"],
            ["pipeline_runs.id"],
            name=op.f("fk_pipeline_steps_pipeline_run_id_pipeline_runs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pipeline_steps")),
    )
    op.create_index(
        op.f("ix_pipeline_steps_pipeline_run_id"), "pipeline_steps", ["pipeline_run_id"]
    )
    op.create_index(op.f("ix_pipeline_steps_cache_key"), "pipeline_steps", ["cache_key"])
    op.create_table(
        "rollouts",
        sa.Column("id", ID, nullable=False),
        sa.Column("job_id", ID, nullable=True),
        sa.Column("endpoint", NAME, nullable=False),
        sa.Column("strategy", sa.String(length=16), nullable=False),
        sa.Column("candidate_version_id", ID, nullable=False),
        sa.Column("champion_version_id", ID, nullable=False),
        sa.Column("weight", sa.Integer(), nullable=True),
        sa.Column("min_sample", sa.Integer(), nullable=False),
        sa.Column("watch_seconds", DOUBLE, nullable=False),
        sa.Column("guardrails", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("started_revision", sa.Integer(), nullable=True),
        sa.Column("decided_revision", sa.Integer(), nullable=True),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("created_by", NAME, nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name=op.f("fk_rollouts_job_id_jobs")),
        sa.ForeignKeyConstraint(
            ["candidate_version_id"],
            ["model_versions.id"],
            name=op.f("fk_rollouts_candidate_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["champion_version_id"],
            ["model_versions.id"],
            name=op.f("fk_rollouts_champion_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    op.create_index(op.f("ix_rollouts_job_id"), "rollouts", ["job_id"])
    op.create_index(op.f("ix_rollouts_endpoint_status"), "rollouts", ["endpoint", "status"])
    op.create_table(
        "agent_state",
        sa.Column("key", NAME, nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_agent_state")),
    )


def downgrade() -> None:
    op.drop_table("agent_state")
    op.drop_table("rollouts")
    op.drop_table("pipeline_steps")
    op.drop_table("pipeline_runs")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_kind_endpoint_status"))
        for column in (
            "updated_at",
            "reason",
            "joined_job_id",
            "lease_expires_at",
            "lease_owner",
            "attempts",
            "trigger",
            "endpoint",
        ):
            batch_op.drop_column(column)
    with op.batch_alter_table("runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_runs_parent_run_id"))
        batch_op.drop_column("parent_run_id")
