"""Initial schema: tenants, API keys, jobs and their assignments.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

Written by hand for PostgreSQL and SQLite alike. Types are spelled out here rather than
imported from domain.adapters.db.tables, so that later edits there cannot change history.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _ident() -> sa.types.TypeEngine:
    # Byte order on PostgreSQL, as in Python and SQLite (see tables.ident).
    return sa.String(64).with_variant(sa.String(64, collation="C"), "postgresql")


def _timestamp() -> sa.types.TypeEngine:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("prefix", sa.String(32), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("last_used_at", _timestamp(), nullable=True),
        sa.Column("revoked_at", _timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_api_keys"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name="fk_api_keys_tenant_id_tenants"
        ),
        sa.UniqueConstraint("key_hash", name="uq_api_keys_key_hash"),
    )
    op.create_index("ix_api_keys_tenant_id", "api_keys", ["tenant_id"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("name", sa.String(200), nullable=True),
        sa.Column("correlation_id", sa.String(200), nullable=False),
        sa.Column("cache_key", sa.String(128), nullable=False),
        sa.Column("time_limit_seconds", sa.Float(), nullable=False),
        sa.Column("problem", _json(), nullable=False),
        sa.Column("options", _json(), nullable=False),
        sa.Column("progress", _json(), nullable=True),
        sa.Column("summary", _json(), nullable=True),
        sa.Column("solution", _json(), nullable=True),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("created_at", _timestamp(), nullable=False),
        sa.Column("started_at", _timestamp(), nullable=True),
        sa.Column("finished_at", _timestamp(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.ForeignKeyConstraint(["tenant_id"], ["tenants.id"], name="fk_jobs_tenant_id_tenants"),
    )
    op.create_index("ix_jobs_tenant_id_created_at_id", "jobs", ["tenant_id", "created_at", "id"])
    op.create_index(
        "ix_jobs_tenant_id_status_created_at_id",
        "jobs",
        ["tenant_id", "status", "created_at", "id"],
    )
    op.create_table(
        "assignments",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("employee_id", _ident(), nullable=False),
        sa.Column("shift_id", _ident(), nullable=False),
        sa.PrimaryKeyConstraint("job_id", "date", "employee_id", "shift_id", name="pk_assignments"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_assignments_job_id_jobs", ondelete="CASCADE"
        ),
    )
    op.create_index(
        "ix_assignments_job_id_employee_id_date", "assignments", ["job_id", "employee_id", "date"]
    )


def downgrade() -> None:
    op.drop_index("ix_assignments_job_id_employee_id_date", table_name="assignments")
    op.drop_table("assignments")
    op.drop_index("ix_jobs_tenant_id_status_created_at_id", table_name="jobs")
    op.drop_index("ix_jobs_tenant_id_created_at_id", table_name="jobs")
    op.drop_table("jobs")
    op.drop_index("ix_api_keys_tenant_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("tenants")
