"""The schema as SQLAlchemy Core tables: what the repositories query and env.py compares.

The migrations in `migrations/versions/` build this schema; keep the two in step.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


class UtcDateTime(sa.TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC datetime.

    PostgreSQL keeps `timestamptz`; SQLite keeps text without an offset and returns naive
    values, which would break comparisons with aware ones (job cursors) in Python.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        # A naive value can only come from a client's cursor or from SQLite: both mean UTC.
        aware = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        utc = aware.astimezone(dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def json_type() -> sa.types.TypeEngine[Any]:
    """JSON text on SQLite, JSONB on PostgreSQL; Python None is SQL NULL, never JSON null."""
    return sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def ident(length: int) -> sa.types.TypeEngine[str]:
    """A client-chosen id, compared byte by byte on PostgreSQL as in Python and SQLite.

    The database's default collation (e.g. en_US) would order "b" before "B_2" and make
    assignment pages differ from the in-memory reference (tests/fakes.py).
    """
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.String(200), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False, index=True),
    sa.Column("prefix", sa.String(32), nullable=False),
    sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("name", sa.String(200)),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_used_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
)

jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("name", sa.String(200)),
    sa.Column("correlation_id", sa.String(200), nullable=False),
    sa.Column("cache_key", sa.String(128), nullable=False),
    sa.Column("time_limit_seconds", sa.Float, nullable=False),
    sa.Column("problem", json_type(), nullable=False),
    # A copy of problem.options, so operators can query limits without parsing problems.
    sa.Column("options", json_type(), nullable=False),
    sa.Column("progress", json_type()),
    sa.Column("summary", json_type()),
    sa.Column("solution", json_type()),
    sa.Column("error_code", sa.String(32)),
    sa.Column("error_detail", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("started_at", UtcDateTime),
    sa.Column("finished_at", UtcDateTime),
    # Set when a running job is asked to stop; its solve polls it (domain.services.solving).
    sa.Column("cancel_requested_at", UtcDateTime),
    # The tenant's listing, newest first, with and without a status filter (keyset pages).
    sa.Index(None, "tenant_id", "created_at", "id"),
    sa.Index(None, "tenant_id", "status", "created_at", "id"),
    # The beat tasks: the stuck-job sweep (open jobs by age) and retention (finished by age).
    sa.Index(None, "status", "created_at"),
    sa.Index(None, "finished_at"),
)

assignments = sa.Table(
    "assignments",
    metadata,
    sa.Column("job_id", sa.Uuid, sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("date", sa.Date, primary_key=True),
    sa.Column("employee_id", ident(64), primary_key=True),
    # In the key because a roster that breaks a hard rule may give one person two shifts a day.
    sa.Column("shift_id", ident(64), primary_key=True),
    # Pages are read per job by employee too (GET .../assignments?employee=).
    sa.Index(None, "job_id", "employee_id", "date"),
)

# The transactional outbox (DESIGN.md section 2): written with the row it announces, published
# by the relay after the commit.
outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("job_id", sa.Uuid, sa.ForeignKey("jobs.id", ondelete="CASCADE"), index=True),
    sa.Column("payload", json_type(), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("available_at", UtcDateTime, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("sent_at", UtcDateTime),
    sa.Column("last_error", sa.Text),
    # Only unsent rows are ever looked for by the relay: a small index however big the table.
    sa.Index(
        None,
        "available_at",
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    ),
)

# Idempotency-Key of POST /v1/jobs: the key (one per tenant), the hash of the request it was
# first used with, and the job that request made.
idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column(
        "job_id", sa.Uuid, sa.ForeignKey("jobs.id", ondelete="CASCADE"), nullable=False, index=True
    ),
    sa.Column("created_at", UtcDateTime, nullable=False, index=True),
)

webhooks = sa.Table(
    "webhooks",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False, index=True),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("events", json_type(), nullable=False),
    # In clear, because it signs every attempt (domain/adapters/db/webhooks.py says why).
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    # Also the `webhook-id` header of every attempt.
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "webhook_id", sa.Uuid, sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False
    ),
    # Purging a job (retention) purges its deliveries.
    sa.Column(
        "job_id",
        sa.Uuid,
        sa.ForeignKey("jobs.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("event", sa.String(32), nullable=False),
    # The body exactly as signed and sent, so every attempt sends the same bytes.
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("correlation_id", sa.String(200), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", UtcDateTime),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("delivered_at", UtcDateTime),
    # One delivery per event, even when a job's solve ran twice.
    sa.UniqueConstraint("webhook_id", "job_id", "event"),
    # A webhook's deliveries, newest first (keyset pages); the sweep's due rows.
    sa.Index(None, "webhook_id", "created_at", "id"),
    sa.Index(None, "status", "next_attempt_at"),
)

# --- identity (migration 0004) ---------------------------------------------------------------

users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False, index=True),
    # Stored normalized (domain.identity.normalize_email), so a plain unique constraint makes
    # addresses unique case-insensitively, on SQLite as on PostgreSQL.
    sa.Column("email", sa.String(320), nullable=False, unique=True),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("last_login_at", UtcDateTime),
    sa.Column("mfa_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("totp_secret_encrypted", sa.Text),
    # The last accepted TOTP time step: a guarded UPDATE on it makes each code single-use.
    sa.Column("totp_last_step", sa.BigInteger),
    sa.Column("mfa_enrolled_at", UtcDateTime),
    sa.Column("failed_logins", sa.Integer, nullable=False, server_default="0"),
    sa.Column("locked_until", UtcDateTime),
)

refresh_tokens = sa.Table(
    "refresh_tokens",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    # Every token rotated from one login; a reuse revokes them all.
    sa.Column("family_id", sa.Uuid, nullable=False, index=True),
    sa.Column(
        "user_id",
        sa.Uuid,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
    sa.Column("revoked_at", UtcDateTime),
)

# Security events. No foreign keys: the log outlives the users and keys it mentions.
audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid),
    sa.Column("kind", sa.String(48), nullable=False),
    sa.Column("created_at", UtcDateTime, nullable=False),
    sa.Column("user_id", sa.Uuid),
    sa.Column("actor_id", sa.Uuid),
    sa.Column("detail", json_type()),
    # The tenant's log, newest first (keyset pages).
    sa.Index(None, "tenant_id", "created_at", "id"),
)

mfa_backup_codes = sa.Table(
    "mfa_backup_codes",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column(
        "user_id",
        sa.Uuid,
        sa.ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    sa.Column("code_hash", sa.String(255), nullable=False),
    sa.Column("used_at", UtcDateTime),
)

mfa_email_codes = sa.Table(
    "mfa_email_codes",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    sa.Column("code_hash", sa.String(255), nullable=False),
    sa.Column("expires_at", UtcDateTime, nullable=False),
    sa.Column("used_at", UtcDateTime),
    sa.Column("created_at", UtcDateTime, nullable=False),
    # Codes of a user, newest first: the one to check and the sends of the last 15 minutes.
    sa.Index(None, "user_id", "created_at"),
)
