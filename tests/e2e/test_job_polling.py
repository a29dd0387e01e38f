"""Polling a job through the real API process on PostgreSQL: between changes the view comes
from memory, and a change reaches the next GET through the change feed (migration 0006,
domain/adapters/db/job_changes.py, api/job_views.py)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from domain.adapters.db.job_changes import APPLICATION_NAME
from tests.e2e.stack import Stack

pytestmark = pytest.mark.e2e

SAMPLE = Path(__file__).resolve().parents[2] / "domain" / "samples" / "sample.json"


@pytest.fixture(scope="module")
def stack(postgres_url, redis_url, tmp_path_factory) -> Iterator[Stack]:
    stack = Stack(postgres_url, redis_url, tmp_path_factory.mktemp("polling"))
    try:
        stack.start_api()  # no worker: a submitted job stays queued until the test moves it
        yield stack
    finally:
        stack.stop()


def sql(stack: Stack, statement: str, *params: object, announced: bool = True) -> list[tuple]:
    plain = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        if not announced:
            # Ordinary triggers do not fire in a replica-role session: a change the feed
            # never hears of, to tell a view served from memory from one read again.
            conn.execute("SET session_replication_role = replica")
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def until(check: Callable[[], bool], seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_polled_job_comes_from_memory_until_the_feed_announces_its_change(stack):
    listening = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    listening += f" AND application_name = '{APPLICATION_NAME}'"
    assert until(lambda: sql(stack, listening) == [(1,)]), "the API never started listening"
    with stack.client(stack.api_key("polling")) as client:
        submitted = client.post(
            "/v1/jobs",
            content=SAMPLE.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        job_id = submitted.json()["id"]
        status = lambda: client.get(f"/v1/jobs/{job_id}").json()["status"]  # noqa: E731
        assert status() == "queued"  # read, and kept: the feed is up

        sql(
            stack,
            "UPDATE jobs SET status = 'running', started_at = now(), attempts = 1 WHERE id = %s",
            job_id,
            announced=False,
        )
        assert [status() for _ in range(3)] == ["queued"] * 3  # from memory

        sql(stack, "UPDATE jobs SET attempts = attempts WHERE id = %s", job_id)
        assert until(lambda: status() == "running", seconds=5.0)
