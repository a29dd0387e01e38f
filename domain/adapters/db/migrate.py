"""Apply the Alembic migrations from Python (the CLI, the dev stack and the test harness).

The URL goes to migrations/env.py through the Config; alembic.ini is never read.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext

from domain.adapters.db.engine import make_admin_engine

# domain/adapters/db/migrate.py -> the repository root. The migrations are not part of the
# Python package, so this works from a checkout (or an editable install) only.
MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision`."""
    command.upgrade(_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Take the database at `url` down to `revision` ("base" drops the whole schema)."""
    command.downgrade(_config(url), revision)


def current(url: str) -> str | None:
    """The revision the database at `url` is at, or None for an empty database."""
    engine = make_admin_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def _config(url: str) -> Config:
    if not (MIGRATIONS / "env.py").is_file():
        raise FileNotFoundError(f"no Alembic migrations at {MIGRATIONS}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # An attribute, not the sqlalchemy.url option: options go through ConfigParser
    # interpolation, which would misread a '%' in a password.
    config.attributes["database_url"] = url
    return config
