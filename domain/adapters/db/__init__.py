"""SQL persistence: engine, tables, repositories and the unit of work (SQLAlchemy Core).

PostgreSQL (psycopg 3) in production, SQLite for the embedded default; the schema is built by
the Alembic migrations in the repository's `migrations/` (see `migrate`), never by create_all.
"""

from domain.adapters.db.engine import make_engine, ping
from domain.adapters.db.uow import SqlUnitOfWork, sql_uow_factory

__all__ = ["SqlUnitOfWork", "make_engine", "ping", "sql_uow_factory"]
