"""The test harness starts throwaway servers when the configured ones do not answer.

These call the harness directly with URLs on unused ports, so they prove the fresh-machine
path even here, where PostgreSQL and Redis are running.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
import pytest
import redis
import sqlalchemy as sa

from domain.adapters.db import migrate
from domain.adapters.db.engine import make_admin_engine
from tests import harness

pytestmark = pytest.mark.integration


def unused_postgres_url() -> str:
    return f"postgresql+psycopg://postgres@127.0.0.1:{harness.free_port()}/test"


def unused_redis_url() -> str:
    return f"redis://127.0.0.1:{harness.free_port()}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def postmaster(admin_url: str) -> tuple[int, Path]:
    """The server's PID and data directory, as the server itself reports them."""
    with psycopg.connect(harness.libpq_url(admin_url)) as conn:
        pid_file = conn.execute("SELECT pg_read_file('postmaster.pid')").fetchone()[0]
        data = conn.execute("SHOW data_directory").fetchone()[0]
    return int(pid_file.splitlines()[0]), Path(data)


def test_a_throwaway_postgres_serves_when_nothing_answers_and_stops_after():
    configured = unused_postgres_url()
    assert not harness.postgres_answers(configured)
    with harness.postgres_server(configured) as admin_url:
        assert admin_url != configured
        assert harness.postgres_answers(admin_url)
        pid, data = postmaster(admin_url)
        assert alive(pid)
        with harness.migrated_database(admin_url) as url:
            assert migrate.current(url) is not None
            name = sa.engine.make_url(url).database
        assert not _database_exists(admin_url, name)
    assert not alive(pid)
    assert not data.exists()
    assert not harness.postgres_answers(admin_url)


def test_the_pgserver_wheel_binaries_run_a_server():
    """The fallback of a machine without PostgreSQL installed."""
    server = harness.start_postgres(harness.pgserver_bindir())
    try:
        assert server.running()
        engine = make_admin_engine(server.url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1 + 1")).scalar_one() == 2
        engine.dispose()
    finally:
        server.stop()
    assert not alive(server.pid)
    assert not server.workdir.exists()


def test_a_throwaway_redis_serves_when_nothing_answers_and_stops_after():
    configured = unused_redis_url()
    assert not harness.redis_answers(configured)
    with harness.redis_server(configured) as url:
        assert url != configured
        client = redis.Redis.from_url(url)
        pid = client.info("server")["process_id"]
        assert alive(pid)
        assert client.config_get("save") == {"save": ""}  # keeps nothing on disk
        client.close()
    assert not alive(pid)
    assert not harness.redis_answers(url)


def test_each_worker_gets_its_own_emptied_redis_database():
    server = harness.start_redis()
    try:
        db = harness.FIRST_REDIS_DB + harness.worker_index()
        mine = harness.redis_db_url(server.url, db)
        neighbour = harness.redis_db_url(server.url, db + 1)
        redis.Redis.from_url(mine).set("left-over", "1")
        redis.Redis.from_url(neighbour).set("other-worker", "1")
        with harness.worker_redis(server.url) as url:
            assert url == mine
            assert redis.Redis.from_url(url).dbsize() == 0
        assert redis.Redis.from_url(neighbour).get("other-worker") == b"1"
    finally:
        server.stop()


def _database_exists(admin_url: str, name: str) -> bool:
    with psycopg.connect(harness.libpq_url(admin_url)) as conn:
        row = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    return row is not None
