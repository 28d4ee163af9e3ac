"""Serving: endpoints and their immutable revisions, checked model exports, and batch jobs.

Endpoint revisions and model exports are append-only like the registry's records (0002): a
rollback re-applies an earlier revision as a new row. The endpoints row itself moves (it points
at the live and staged revisions), the way an alias does.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(length=32)
NAME = sa.String(length=255)
WHEN = sa.DateTime(timezone=True)
APPEND_ONLY = ("endpoint_revisions", "model_exports")


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", NAME, nullable=False),
        sa.Column("live_revision_id", ID, nullable=True),
        sa.Column("staged_revision_id", ID, nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.Column("updated_at", WHEN, nullable=False),
        sa.Column("deleted_at", WHEN, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoints")),
        sa.UniqueConstraint("name", name=op.f("uq_endpoints_name")),
    )
    op.create_table(
        "endpoint_revisions",
        sa.Column("id", ID, nullable=False),
        sa.Column("endpoint_id", ID, nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("primary_version_id", ID, nullable=False),
        sa.Column("primary_alias", NAME, nullable=True),
        sa.Column("canary_version_id", ID, nullable=True),
        sa.Column("canary_alias", NAME, nullable=True),
        sa.Column("canary_weight", sa.Integer(), nullable=True),
        sa.Column("shadow_version_id", ID, nullable=True),
        sa.Column("shadow_alias", NAME, nullable=True),
        sa.Column("runtime", sa.String(length=16), nullable=False),
        sa.Column("staged", sa.Boolean(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("source_revision", sa.Integer(), nullable=True),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["endpoints.id"],
            name=op.f("fk_endpoint_revisions_endpoint_id_endpoints"),
        ),
        sa.ForeignKeyConstraint(
            ["primary_version_id"],
            ["model_versions.id"],
            name=op.f("fk_endpoint_revisions_primary_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["canary_version_id"],
            ["model_versions.id"],
            name=op.f("fk_endpoint_revisions_canary_version_id_model_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["shadow_version_id"],
            ["model_versions.id"],
            name=op.f("fk_endpoint_revisions_shadow_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_endpoint_revisions")),
        sa.UniqueConstraint(
            "endpoint_id", "number", name=op.f("uq_endpoint_revisions_endpoint_id_number")
        ),
    )
    op.create_index(
        op.f("ix_endpoint_revisions_endpoint_id"), "endpoint_revisions", ["endpoint_id"]
    )
    op.create_table(
        "model_exports",
        sa.Column("id", ID, nullable=False),
        sa.Column("model_version_id", ID, nullable=False),
        sa.Column("runtime", sa.String(length=16), nullable=False),
        sa.Column("artifact_hash", sa.String(length=64), nullable=False),
        sa.Column("agreement", sa.JSON(), nullable=False),
        sa.Column("created_at", WHEN, nullable=False),
        sa.Column("created_by", NAME, nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_model_exports_model_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_exports")),
        sa.UniqueConstraint(
            "model_version_id", "runtime", name=op.f("uq_model_exports_model_version_id_runtime")
        ),
    )
    op.create_table(
        "jobs",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("model_version_id", ID, nullable=True),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("inputs", sa.JSON(), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", WHEN, nullable=False),
        sa.Column("ended_at", WHEN, nullable=True),
        sa.Column("created_by", NAME, nullable=False),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_jobs_model_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table in APPEND_ONLY:
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION mloop_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION mloop_append_only()"
            )
        return
    for table in APPEND_ONLY:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
        op.execute(
            f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} "
            f"WHEN EXISTS (SELECT 1 FROM {table} WHERE id = NEW.id) "
            f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
        )


def downgrade() -> None:
    for table in ("jobs", "model_exports", "endpoint_revisions", "endpoints"):
        op.drop_table(table)
