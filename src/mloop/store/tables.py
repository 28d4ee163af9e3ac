"""The metadata schema: one SQLAlchemy Core table per noun.

Changing a table means adding an Alembic migration in ``store/migrations/versions`` (the tests
upgrade every store from empty, so a table without its migration fails them). Ids are ``mloop.ids``
strings; JSON columns hold documents the services own (schemas, profiles, signatures, verdicts).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

_metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

ID = sa.String(32)
NAME = sa.String(255)
WHEN = sa.DateTime(timezone=True)
DOUBLE = sa.Float(precision=53)

# Each table is built on first use: a command touches two or three of them, and building all
# of them cost a cached `mloop pipeline run` ~25 ms. ``metadata`` (Alembic, schema checks)
# builds every one. Foreign keys to a table not built yet resolve when it is.
_BUILDERS: dict[str, Callable[[], sa.Table]] = {}
_BUILDING = threading.Lock()


def _table(build: Callable[[], sa.Table]) -> Callable[[], sa.Table]:
    _BUILDERS[build.__name__.removeprefix("_")] = build
    return build


def __getattr__(name: str) -> Any:
    if name == "metadata":
        for table in _BUILDERS:
            __getattr__(table)
        return _metadata
    build = _BUILDERS.get(name)
    if build is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    with _BUILDING:
        if name not in globals():
            globals()[name] = build()
    return globals()[name]


@_table
def _datasets() -> sa.Table:
    return sa.Table(
        "datasets",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", NAME, nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )


@_table
def _dataset_versions() -> sa.Table:
    return sa.Table(
        "dataset_versions",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("dataset_id", ID, sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("source_path", sa.Text, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("row_count", sa.BigInteger, nullable=False),
        sa.Column("column_count", sa.Integer, nullable=False),
        sa.Column("schema", sa.JSON, nullable=False),
        sa.Column("profile", sa.JSON, nullable=False),
        sa.Column("parent_id", ID, sa.ForeignKey("dataset_versions.id"), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.UniqueConstraint("dataset_id", "version"),
        sa.UniqueConstraint("dataset_id", "content_hash"),
    )


@_table
def _dataset_schemas() -> sa.Table:
    return sa.Table(
        "dataset_schemas",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("dataset_id", ID, sa.ForeignKey("datasets.id"), nullable=False),
        sa.Column("revision", sa.Integer, nullable=False),
        sa.Column("schema", sa.JSON, nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.UniqueConstraint("dataset_id", "revision"),
    )


@_table
def _experiments() -> sa.Table:
    return sa.Table(
        "experiments",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", NAME, nullable=False, unique=True),
        sa.Column("created_at", WHEN, nullable=False),
    )


@_table
def _runs() -> sa.Table:
    return sa.Table(
        "runs",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("experiment_id", ID, sa.ForeignKey("experiments.id"), nullable=False, index=True),
        sa.Column("name", NAME, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("user", NAME, nullable=False),
        sa.Column("environment", sa.JSON, nullable=False),
        # A sweep's trials are child runs of one parent run (added in 0005, so no constraint on SQLite).
        sa.Column("parent_run_id", ID, nullable=True, index=True),
    )


@_table
def _params() -> sa.Table:
    return sa.Table(
        "params",
        _metadata,
        sa.Column("run_id", ID, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", NAME, primary_key=True),
        sa.Column("value", sa.JSON, nullable=True),
    )


@_table
def _metrics() -> sa.Table:
    return sa.Table(
        "metrics",
        _metadata,
        sa.Column("run_id", ID, sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("key", NAME, nullable=False),
        sa.Column("step", sa.BigInteger, nullable=False),
        sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
        sa.Column("value", DOUBLE, nullable=False),
        sa.Index("ix_metrics_run_key_step", "run_id", "key", "step"),
    )


@_table
def _tags() -> sa.Table:
    return sa.Table(
        "tags",
        _metadata,
        sa.Column("run_id", ID, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("key", NAME, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


@_table
def _run_artifacts() -> sa.Table:
    return sa.Table(
        "run_artifacts",
        _metadata,
        sa.Column("run_id", ID, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("path", sa.String(1024), primary_key=True),
        sa.Column("blob_hash", sa.String(64), nullable=False, index=True),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )


@_table
def _run_inputs() -> sa.Table:
    return sa.Table(
        "run_inputs",
        _metadata,
        sa.Column("run_id", ID, sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("dataset_version_id", ID, sa.ForeignKey("dataset_versions.id"), primary_key=True),
        sa.Column("role", sa.String(32), primary_key=True),
    )


@_table
def _models() -> sa.Table:
    return sa.Table(
        "models",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", NAME, nullable=False, unique=True),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )


@_table
def _model_versions() -> sa.Table:
    return sa.Table(
        "model_versions",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("model_id", ID, sa.ForeignKey("models.id"), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("run_id", ID, sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("flavor", sa.String(32), nullable=False),
        sa.Column("artifact_hash", sa.String(64), nullable=False),
        sa.Column("signature", sa.JSON, nullable=False),
        sa.Column("metrics", sa.JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.UniqueConstraint("model_id", "version"),
    )


@_table
def _aliases() -> sa.Table:
    return sa.Table(
        "aliases",
        _metadata,
        sa.Column("model_id", ID, sa.ForeignKey("models.id"), primary_key=True),
        sa.Column("alias", NAME, primary_key=True),
        sa.Column("model_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )


@_table
def _gate_verdicts() -> sa.Table:
    return sa.Table(
        "gate_verdicts",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "model_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=False, index=True
        ),
        sa.Column("alias", NAME, nullable=False),
        sa.Column("gate", NAME, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("checks", sa.JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("actor", NAME, nullable=False),
    )


@_table
def _approvals() -> sa.Table:
    return sa.Table(
        "approvals",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "model_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=False, index=True
        ),
        sa.Column("approver", NAME, nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
    )


@_table
def _alias_moves() -> sa.Table:
    return sa.Table(
        "alias_moves",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("model_id", ID, sa.ForeignKey("models.id"), nullable=False, index=True),
        sa.Column("alias", NAME, nullable=False),
        sa.Column("from_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=True),
        sa.Column("to_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("forced", sa.Boolean, nullable=False),
        sa.Column("verdict_id", ID, sa.ForeignKey("gate_verdicts.id"), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
    )


@_table
def _audit_log() -> sa.Table:
    return sa.Table(
        "audit_log",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("actor", NAME, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("model", NAME, nullable=True, index=True),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("from_value", sa.Text, nullable=True),
        sa.Column("to_value", sa.Text, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("verdict_id", ID, nullable=True),
        sa.Column("details", sa.JSON, nullable=False),
    )


# An endpoint is a named serving target. Its row only points at the revision that is live and the
# one staged beside it (blue/green); every change is a new, immutable endpoint_revisions row.
@_table
def _endpoints() -> sa.Table:
    return sa.Table(
        "endpoints",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("name", NAME, nullable=False, unique=True),
        sa.Column("live_revision_id", ID, nullable=True),
        sa.Column("staged_revision_id", ID, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("deleted_at", WHEN, nullable=True),
    )


@_table
def _endpoint_revisions() -> sa.Table:
    return sa.Table(
        "endpoint_revisions",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("endpoint_id", ID, sa.ForeignKey("endpoints.id"), nullable=False, index=True),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("primary_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("primary_alias", NAME, nullable=True),
        sa.Column("canary_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=True),
        sa.Column("canary_alias", NAME, nullable=True),
        sa.Column("canary_weight", sa.Integer, nullable=True),
        sa.Column("shadow_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=True),
        sa.Column("shadow_alias", NAME, nullable=True),
        sa.Column("runtime", sa.String(16), nullable=False),
        sa.Column("staged", sa.Boolean, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("source_revision", sa.Integer, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.UniqueConstraint("endpoint_id", "number"),
    )


# A checked export of a model version to another runtime (ONNX): the blob, and how closely it
# agreed with the model on held-out rows when it was made.
@_table
def _model_exports() -> sa.Table:
    return sa.Table(
        "model_exports",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("model_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("runtime", sa.String(16), nullable=False),
        sa.Column("artifact_hash", sa.String(64), nullable=False),
        sa.Column("agreement", sa.JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.UniqueConstraint("model_version_id", "runtime"),
    )


# Batch work (scoring a file today; pipelines and retraining later) with its lineage.
@_table
def _jobs() -> sa.Table:
    return sa.Table(
        "jobs",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("model_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=True),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("counts", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("created_by", NAME, nullable=False),
        # Retraining jobs (0005): the endpoint and trigger that started one, its lease while an agent
        # runs it, the job a coalesced trigger joined, and why it ended.
        sa.Column("endpoint", NAME, nullable=True),
        sa.Column("trigger", sa.JSON, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("lease_owner", NAME, nullable=True),
        sa.Column("lease_expires_at", WHEN, nullable=True),
        sa.Column("joined_job_id", ID, nullable=True),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("updated_at", WHEN, nullable=True),
        sa.Index(None, "kind", "endpoint", "status"),
    )


# A pipeline run and its steps. A step's cache_key hashes its code, its inputs' content and its
# parameters; a finished step with the same key is reused instead of re-run.
@_table
def _pipeline_runs() -> sa.Table:
    return sa.Table(
        "pipeline_runs",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("pipeline", NAME, nullable=False, index=True),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("params", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("resumed_from", ID, sa.ForeignKey("pipeline_runs.id"), nullable=True),
        sa.Column("executor", sa.String(16), nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("created_by", NAME, nullable=False),
    )


@_table
def _pipeline_steps() -> sa.Table:
    return sa.Table(
        "pipeline_steps",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column(
            "pipeline_run_id", ID, sa.ForeignKey("pipeline_runs.id"), nullable=False, index=True
        ),
        sa.Column("name", NAME, nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cached", sa.Boolean, nullable=False),
        sa.Column("cache_key", sa.String(64), nullable=False, index=True),
        sa.Column("cached_from", ID, nullable=True),
        sa.Column("seconds", DOUBLE, nullable=True),
        sa.Column("inputs", sa.JSON, nullable=False),
        sa.Column("outputs", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("started_at", WHEN, nullable=True),
        sa.Column("ended_at", WHEN, nullable=True),
    )


# A guarded rollout: a candidate beside the champion (canary or shadow), watched until its
# guardrails decide. Its verdict is also a gate_verdicts row on the candidate version.
@_table
def _rollouts() -> sa.Table:
    return sa.Table(
        "rollouts",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("job_id", ID, sa.ForeignKey("jobs.id"), nullable=True, index=True),
        sa.Column("endpoint", NAME, nullable=False),
        sa.Column("strategy", sa.String(16), nullable=False),
        sa.Column("candidate_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("champion_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=False),
        sa.Column("weight", sa.Integer, nullable=True),
        sa.Column("min_sample", sa.Integer, nullable=False),
        sa.Column("watch_seconds", DOUBLE, nullable=False),
        sa.Column("guardrails", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("figures", sa.JSON, nullable=False),
        sa.Column("reason", sa.Text, nullable=True),
        sa.Column("started_revision", sa.Integer, nullable=True),
        sa.Column("decided_revision", sa.Integer, nullable=True),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("decided_at", WHEN, nullable=True),
        sa.Column("created_by", NAME, nullable=False),
        sa.Index(None, "endpoint", "status"),
    )


# What the agent has already seen (the last alert, dataset version and schedule tick per policy),
# so a restarted agent neither misses nor repeats a trigger.
@_table
def _agent_state() -> sa.Table:
    return sa.Table(
        "agent_state",
        _metadata,
        sa.Column("key", NAME, primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
    )


# One evaluation of an endpoint's monitor over a window, and every figure it measured: the time
# series reports and thresholds read (segment is "column=value", or null for the whole window).
@_table
def _monitor_runs() -> sa.Table:
    return sa.Table(
        "monitor_runs",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("endpoint", NAME, nullable=False),
        sa.Column("monitor", NAME, nullable=False),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("window_end", WHEN, nullable=False),
        sa.Column("passed", sa.Boolean, nullable=False),
        sa.Column("summary", sa.Text, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.Index(None, "endpoint", "created_at"),
    )


@_table
def _monitor_points() -> sa.Table:
    return sa.Table(
        "monitor_points",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", ID, sa.ForeignKey("monitor_runs.id"), nullable=False, index=True),
        sa.Column("endpoint", NAME, nullable=False),
        sa.Column("metric", NAME, nullable=False),
        sa.Column("segment", sa.Text, nullable=True),
        sa.Column("model_version_id", ID, sa.ForeignKey("model_versions.id"), nullable=True),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("window_end", WHEN, nullable=False),
        sa.Column("value", DOUBLE, nullable=True),
        sa.Index(None, "endpoint", "metric", "window_end"),
    )


# A threshold crossing, and one delivery row per webhook it is sent to (attempts move in place).
@_table
def _alerts() -> sa.Table:
    return sa.Table(
        "alerts",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("run_id", ID, sa.ForeignKey("monitor_runs.id"), nullable=True),
        sa.Column("endpoint", NAME, nullable=False),
        sa.Column("monitor", NAME, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("metric", NAME, nullable=False),
        sa.Column("value", DOUBLE, nullable=True),
        sa.Column("threshold", sa.Text, nullable=False),
        sa.Column("window_start", WHEN, nullable=False),
        sa.Column("window_end", WHEN, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Index(None, "endpoint", "created_at"),
    )


@_table
def _alert_deliveries() -> sa.Table:
    return sa.Table(
        "alert_deliveries",
        _metadata,
        sa.Column("id", ID, primary_key=True),
        sa.Column("alert_id", ID, sa.ForeignKey("alerts.id"), nullable=False, index=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("last_attempt_at", WHEN, nullable=True),
        sa.Column("delivered_at", WHEN, nullable=True),
    )


metadata: sa.MetaData
datasets: sa.Table
dataset_versions: sa.Table
dataset_schemas: sa.Table
experiments: sa.Table
runs: sa.Table
params: sa.Table
metrics: sa.Table
tags: sa.Table
run_artifacts: sa.Table
run_inputs: sa.Table
models: sa.Table
model_versions: sa.Table
aliases: sa.Table
gate_verdicts: sa.Table
approvals: sa.Table
alias_moves: sa.Table
audit_log: sa.Table
endpoints: sa.Table
endpoint_revisions: sa.Table
model_exports: sa.Table
jobs: sa.Table
pipeline_runs: sa.Table
pipeline_steps: sa.Table
rollouts: sa.Table
agent_state: sa.Table
monitor_runs: sa.Table
monitor_points: sa.Table
alerts: sa.Table
alert_deliveries: sa.Table
