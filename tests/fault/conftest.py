"""Fixtures of the fault-injection suite: a database of its own, a throwaway Redis per test (no
queue shared with any other test session) and the platform's processes, all stopped by PID on
the way out.

The database is the suite's own, not the pytest worker's `postgres_url`: the stuck-job sweep
these tests publish looks at every job of the database, and would otherwise send jobs that
other tests left queued (of any size) to these tests' workers.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from domain.adapters.db import migrate
from tests import harness
from tests.fault.support import Fleet, RestartableRedis
from tests.integration.webhook_receiver import Receiver


@pytest.fixture(scope="session")
def fault_database(postgres_admin_url: str) -> Iterator[str]:
    name = f"rota_fault_{harness.worker_id()}_{os.getpid()}"
    url = harness.create_database(postgres_admin_url, name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        harness.drop_database(postgres_admin_url, name)


@pytest.fixture
def redis_server() -> Iterator[RestartableRedis]:
    server = RestartableRedis(aof=False).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def fleet(fault_database: str, redis_server: RestartableRedis, tmp_path) -> Iterator[Fleet]:
    fleet = Fleet(fault_database, redis_server.url, tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as live:
        yield live
