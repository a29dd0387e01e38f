"""Alembic environment of Rota.

The URL comes from the Config (`attributes["database_url"]`, set by
domain.adapters.db.migrate, or an ini's sqlalchemy.url) or else from
domain.settings (DATABASE_URL), so `alembic upgrade head` needs no alembic.ini.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from domain.adapters.db.engine import make_admin_engine, normalise_url
from domain.adapters.db.tables import metadata
from domain.settings import get_settings

# Held for the upgrade's transaction on PostgreSQL: an API and a worker starting at once
# must not both run the same migration; the second waits, then finds nothing to do.
MIGRATION_LOCK_ID = 0x526F7461  # "Rota"

config = context.config


def database_url() -> str:
    url = config.attributes.get("database_url")
    if not url and config.file_config.has_section(config.config_ini_section):
        url = config.get_main_option("sqlalchemy.url")
    return url or get_settings().database_url


def run_offline() -> None:
    """`alembic upgrade --sql`: print the SQL instead of running it."""
    url = normalise_url(database_url())
    context.configure(
        url=url.render_as_string(hide_password=False),
        target_metadata=metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = make_admin_engine(database_url())
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=metadata,
                # SQLite cannot ALTER most things: Alembic rebuilds the table instead.
                render_as_batch=connection.dialect.name == "sqlite",
            )
            with context.begin_transaction():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID}
                    )
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
