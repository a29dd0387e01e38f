"""SQLAlchemy engines for PostgreSQL (psycopg 3) and the embedded SQLite database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.pool import NullPool

from domain.adapters.db.idle_ping import ping_after_idle
from domain.settings import Settings

# Connections older than this are replaced, so a server or proxy that drops idle connections
# after a while never hands us a dead one (the ping after an idle spell catches the rest).
POOL_RECYCLE_SECONDS = 1800
CONNECT_TIMEOUT_SECONDS = 5
# A statement waiting this long for a row or table lock gives up instead of piling up
# requests behind one stuck transaction.
LOCK_TIMEOUT_MS = 5000
# SQLite writers wait this long for the database lock (the API and the workers share one file).
SQLITE_BUSY_TIMEOUT_MS = 10_000

_json_encoder = msgspec.json.Encoder()
_json_decoder = msgspec.json.Decoder()


def normalise_url(url: str | URL) -> URL:
    """The URL with PostgreSQL pinned to the psycopg 3 driver; other URLs unchanged."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(settings: Settings, *, url: str | None = None) -> Engine:
    """The pooled engine of the service: `url` or else `settings.database_url`."""
    parsed = normalise_url(url or settings.database_url)
    backend = parsed.get_backend_name()
    if backend == "postgresql":
        options = (
            f"-c statement_timeout={settings.db_statement_timeout_ms}"
            f" -c lock_timeout={LOCK_TIMEOUT_MS}"
        )
        engine = sa.create_engine(
            parsed,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_timeout=settings.db_pool_timeout_seconds,
            # Not on every checkout: only after an idle spell (idle_ping.py).
            pool_pre_ping=False,
            pool_recycle=POOL_RECYCLE_SECONDS,
            # Error messages must not quote bound values: they hold clients' problem data.
            hide_parameters=True,
            connect_args=_postgres_connect_args(options),
            json_serializer=_json_text,
            json_deserializer=_json_decoder.decode,
        )
        ping_after_idle(engine)
        return engine
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    raise ValueError(f"unsupported database {backend!r}: use postgresql or sqlite")


def make_admin_engine(url: str | URL) -> Engine:
    """An unpooled engine without a statement timeout, for migrations and one-off tools.

    Lock waits stay capped, so a migration behind a long transaction fails instead of
    blocking every request queued behind its lock.
    """
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "postgresql":
        options = f"-c lock_timeout={LOCK_TIMEOUT_MS}"
        return sa.create_engine(
            parsed, poolclass=NullPool, connect_args=_postgres_connect_args(options)
        )
    return _sqlite_engine(parsed, poolclass=NullPool)


def ping(engine: Engine) -> None:
    """Run `SELECT 1`; raises (sqlalchemy.exc.OperationalError ...) when the database is down."""
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT 1")).scalar_one()


def _postgres_connect_args(options: str) -> dict[str, Any]:
    return {
        "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": "rota",
        "options": options,
        # A peer that went silent (a NAT or firewall dropped the idle flow) is found out
        # within about a minute instead of the kernel's two hours: the change feed's
        # listening connection waits on its socket for as long as the server says nothing.
        "keepalives": 1,
        "keepalives_idle": 30,
        "keepalives_interval": 10,
        "keepalives_count": 3,
    }


def _sqlite_engine(url: URL, **kwargs: Any) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url,
        # The API serves requests from a thread pool; pooled connections move between threads.
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        json_serializer=_json_text,
        json_deserializer=_json_decoder.decode,
        **kwargs,
    )
    sa.event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _json_text(value: object) -> str:
    # str, not msgspec's bytes: SQLite's TEXT and SQLAlchemy's literal rendering need str.
    # msgspec also encodes Structs, dates and UUIDs, so Structs are bound as they are.
    return _json_encoder.encode(value).decode()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL lets readers (API) go on while a writer (worker) commits a roster.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # SQLite ignores foreign keys, ON DELETE CASCADE included, unless asked per connection.
        cursor.execute("PRAGMA foreign_keys=ON")
        # Safe from corruption in WAL mode; a power cut may lose only the last commits.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()
