"""make_engine and ping on real databases: the session settings every connection gets."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from domain.adapters.db import idle_ping
from domain.adapters.db.engine import make_engine, normalise_url, ping
from domain.settings import Settings
from tests import harness

pytestmark = pytest.mark.integration


def session_settings(engine: sa.Engine, *names: str) -> list[str]:
    with engine.connect() as conn:
        return [conn.exec_driver_sql(f"SHOW {name}").scalar_one() for name in names]


def test_postgres_connections_carry_the_timeouts_and_the_application_name(postgres_url):
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    engine = make_engine(Settings(db_statement_timeout_ms=2500), url=plain)
    try:
        assert engine.dialect.driver == "psycopg"
        assert session_settings(
            engine, "statement_timeout", "lock_timeout", "application_name"
        ) == [
            "2500ms",
            "5s",
            "rota",
        ]
    finally:
        engine.dispose()


def test_postgres_connections_have_tcp_keepalives(postgres_url):
    engine = make_engine(Settings(), url=postgres_url)
    try:
        raw = engine.raw_connection()
        try:
            parameters = raw.driver_connection.info.get_parameters()
        finally:
            raw.close()
        assert {k: parameters.get(k) for k in ("keepalives", "keepalives_idle")} == {
            "keepalives": "1",
            "keepalives_idle": "30",
        }
    finally:
        engine.dispose()


def test_the_pool_is_sized_by_the_settings(postgres_url):
    settings = Settings(db_pool_size=3, db_max_overflow=4, db_pool_timeout_seconds=2.5)
    engine = make_engine(settings, url=postgres_url)
    # QueuePool exposes only its size; the other two are read from its (stable) attributes.
    assert (engine.pool.size(), engine.pool._max_overflow, engine.pool._timeout) == (3, 4, 2.5)
    engine.dispose()


def test_a_statement_over_the_timeout_is_cancelled(postgres_url):
    engine = make_engine(Settings(db_statement_timeout_ms=50), url=postgres_url)
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.OperationalError, match="timeout"):
            conn.exec_driver_sql("SELECT pg_sleep(5)")
    finally:
        engine.dispose()


def test_sqlite_creates_its_directory_and_sets_its_pragmas(tmp_path):
    path = tmp_path / "var" / "nested" / "rota.db"
    engine = make_engine(Settings(), url=f"sqlite:///{path}")
    try:
        with engine.connect() as conn:
            pragmas = [
                conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
        assert pragmas == ["wal", 1, 10_000]
        assert path.is_file()
    finally:
        engine.dispose()


def test_ping_answers_on_a_live_database_and_raises_on_a_dead_one(postgres_url):
    live = make_engine(Settings(), url=postgres_url)
    ping(live)
    live.dispose()
    dead = make_engine(Settings(), url=f"postgresql://postgres@127.0.0.1:{harness.free_port()}/x")
    with pytest.raises(sa.exc.OperationalError):
        ping(dead)
    dead.dispose()


def test_other_urls_keep_their_driver_and_unknown_databases_are_refused():
    assert normalise_url("sqlite:///var/rota.db").drivername == "sqlite"
    with pytest.raises(ValueError, match="unsupported"):
        make_engine(Settings(), url="mysql://localhost/rota")


def _backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()


def _terminate(postgres_url: str, pid: int) -> None:
    admin = sa.create_engine(postgres_url, poolclass=sa.pool.NullPool)
    try:
        with admin.connect() as conn:
            # With a timeout, PostgreSQL waits for the backend to be gone.
            conn.exec_driver_sql(f"SELECT pg_terminate_backend({pid}, 30000)")
    finally:
        admin.dispose()


class Pings:
    """Counts the pings the engine's dialect sends."""

    def __init__(self, engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = engine.dialect.do_ping

        def counted(dbapi: object) -> bool:
            self.count += 1
            return real(dbapi)

        monkeypatch.setattr(engine.dialect, "do_ping", counted)


@pytest.fixture
def single(postgres_url):
    engine = make_engine(Settings(db_pool_size=1, db_max_overflow=0), url=postgres_url)
    yield engine
    engine.dispose()


def test_a_connection_used_moments_ago_is_handed_out_without_a_ping(single, monkeypatch):
    pings = Pings(single, monkeypatch)
    first = _backend_pid(single)
    assert [_backend_pid(single) for _ in range(5)] == [first] * 5
    assert pings.count == 0


def test_a_dead_connection_idle_past_the_window_is_replaced_before_use(postgres_url, monkeypatch):
    clock = [1000.0]
    engine = sa.create_engine(normalise_url(postgres_url), pool_size=1, max_overflow=0)
    idle_ping.ping_after_idle(engine, 2.0, monotonic=lambda: clock[0])
    try:
        pings = Pings(engine, monkeypatch)
        first = _backend_pid(engine)
        clock[0] += 1.5  # within the window: handed out as it is
        assert _backend_pid(engine) == first
        assert pings.count == 0
        _terminate(postgres_url, first)
        clock[0] += 2.5  # the connection has sat in the pool past the window
        second = _backend_pid(engine)  # no error: the ping found it dead, a new one was made
        assert second != first
        assert pings.count == 1
    finally:
        engine.dispose()


def test_a_connection_dropped_within_the_window_fails_one_unit_of_work_then_the_pool_recovers(
    single, postgres_url
):
    # The documented price of skipping the ping (idle_ping.py): the request that draws it
    # fails, and the disconnect invalidates the pool, so the next one reconnects.
    first = _backend_pid(single)
    _terminate(postgres_url, first)
    with pytest.raises(sa.exc.OperationalError), single.connect() as conn:
        conn.exec_driver_sql("SELECT 1")
    assert _backend_pid(single) != first
