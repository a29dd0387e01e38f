"""End to end, with real processes (uvicorn, a prefork Celery worker, Celery beat) on their own
PostgreSQL database and Redis: a running solve is cancelled and keeps its best roster, and a
job submitted while the broker is unreachable still answers 202 and runs once the outbox relay
(a beat task) can publish it."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import time
import uuid
from collections.abc import Iterator

import httpx
import msgspec
import pytest
import redis
import sqlalchemy as sa

from domain.adapters.celery_config import LIGHT_QUEUE, SOLVE_QUEUE
from domain.adapters.db import migrate
from domain.adapters.db.engine import make_admin_engine
from domain.adapters.db.tables import outbox
from domain.formats.curtois import load_problem_file
from domain.problem import problem_decoder, solution_decoder
from domain.solver.evaluator import evaluate
from tests import harness
from tests.benchmark_data import curtois_instance
from tests.e2e.stack import BIN, Stack, free_port
from tests.integration.worker_support import tiny_problem

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("platform")]

# Not timing assertions: how long to wait for something before calling the test hung.
HANG_SECONDS = 180.0
TIME_LIMIT = 30.0


@pytest.fixture(scope="module")
def database(postgres_admin_url: str) -> Iterator[str]:
    """A database of this module's own: the stuck-job sweep of its beat must see no job that
    another test left behind."""
    name = f"rota_e2e_reliability_{harness.worker_id()}_{os.getpid()}"
    url = harness.create_database(postgres_admin_url, name)
    migrate.upgrade(url)
    yield url
    harness.drop_database(postgres_admin_url, name)


@pytest.fixture(scope="module")
def stack(database: str, redis_url: str, tmp_path_factory) -> Iterator[Stack]:
    broker = redis.Redis.from_url(redis_url)
    broker.delete(SOLVE_QUEUE, LIGHT_QUEUE)  # messages earlier tests left for absent workers
    broker.close()
    stack = Stack(database, redis_url, tmp_path_factory.mktemp("reliability"))
    stack.beat = None  # type: ignore[attr-defined]
    try:
        yield stack
    finally:
        stop_beat(stack)
        stack.stop()


def start_beat(stack: Stack, relay_interval: float) -> None:
    """`celery -A workers.app beat`, as production runs it, relaying the outbox often."""
    env = dict(stack.env)
    stack.env["ROTA_OUTBOX_RELAY_INTERVAL"] = str(relay_interval)
    try:
        stack.beat = stack._spawn(  # type: ignore[attr-defined]
            "beat",
            [
                str(BIN / "celery"),
                "-A",
                "workers.app",
                "beat",
                f"--schedule={stack.logs / 'celerybeat-schedule'}",
                "--loglevel",
                "info",
            ],
        )
    finally:
        stack.env = env


def stop_beat(stack: Stack) -> None:
    beat: subprocess.Popen | None = getattr(stack, "beat", None)
    if beat is not None and beat.poll() is None:
        beat.terminate()
        try:
            beat.wait(timeout=20)
        except subprocess.TimeoutExpired:
            beat.kill()
            beat.wait()
    stack.beat = None  # type: ignore[attr-defined]


def start_api_with_the_broker_unreachable(stack: Stack) -> None:
    """The API with ROTA_BROKER_URL on a port nothing listens on; it serves (live), though
    not ready, since its broker check fails."""
    env = dict(stack.env)
    stack.env["ROTA_BROKER_URL"] = f"redis://127.0.0.1:{free_port()}/0"
    try:
        stack.api = stack._spawn(
            "api-broker-down",
            [
                str(BIN / "uvicorn"),
                "--factory",
                "api.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(stack.port),
                "--log-level",
                "warning",
            ],
        )
    finally:
        stack.env = env
    wait_for(lambda: answers(f"{stack.url}/health/live", 200), "the API to serve", stack)
    assert httpx.get(f"{stack.url}/health/ready", timeout=10).status_code == 503


def answers(url: str, status: int) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == status
    except httpx.TransportError:
        return False


def wait_for(probe, what: str, stack: Stack):
    deadline = time.monotonic() + HANG_SECONDS
    while time.monotonic() < deadline:
        if found := probe():
            return found
        for proc in (stack.api, stack.worker, getattr(stack, "beat", None)):
            if proc is not None and proc.poll() is not None:
                pytest.fail(f"a process exited ({proc.args[:4]}); see {stack.logs}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}; see the logs in {stack.logs}")


def submit(client: httpx.Client, body: bytes) -> dict:
    response = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    return response.json()


def outbox_rows(database: str, job_id: str) -> list:
    engine = make_admin_engine(database)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.select(outbox).where(outbox.c.job_id == uuid.UUID(job_id))).all()
    finally:
        engine.dispose()


def test_a_running_solve_is_cancelled_and_keeps_its_best_roster(stack):
    stack.start_api()
    stack.start_worker()
    problem = load_problem_file(curtois_instance(22))
    options = msgspec.structs.replace(
        problem.options,
        time_limit_seconds=TIME_LIMIT,
        use_cache=False,
        seed=random.randrange(1, 2**31),
    )
    body = msgspec.json.encode(msgspec.structs.replace(problem, options=options))

    with stack.client(stack.api_key("cancel")) as client:
        job_id = submit(client, body)["id"]
        # Cancel once the solve has a roster to keep (the heuristic's, streamed first).
        wait_for(
            lambda: (
                (j := client.get(f"/v1/jobs/{job_id}").json())["status"] == "running"
                and (j["progress"] or {}).get("objective") is not None
            ),
            "the solve to report a first roster",
            stack,
        )
        response = client.post(f"/v1/jobs/{job_id}/cancel")
        assert response.status_code == 202, response.text
        assert response.json()["cancel_requested_at"] is not None

        job = stack.wait_finished(client, job_id, timeout=HANG_SECONDS)
        assert job["status"] == "cancelled", job
        # Stopped by the cancel, long before the solve's own time limit would have ended it.
        requested = dt.datetime.fromisoformat(job["cancel_requested_at"])
        finished = dt.datetime.fromisoformat(job["finished_at"])
        assert (finished - requested).total_seconds() < TIME_LIMIT
        assert job["summary"]["assignments"] > 0

        solution = solution_decoder.decode(client.get(f"/v1/jobs/{job_id}/solution").content)
        assert solution.assignments
        assert solution.stats["outcome"] == "cancelled"
        check = evaluate(problem_decoder.decode(body), solution.assignments)
        assert check.objective == solution.objective == job["summary"]["objective"]

        again = client.post(f"/v1/jobs/{job_id}/cancel")
        assert again.status_code == 409
        assert again.json()["code"] == "JOB_FINISHED"


def test_a_job_accepted_while_the_broker_is_unreachable_runs_once_the_relay_publishes_it(
    stack, database
):
    stack.stop()
    key = stack.api_key("broker-down")
    start_api_with_the_broker_unreachable(stack)
    body = msgspec.json.encode(tiny_problem(use_cache=False))

    with stack.client(key) as client:
        job_id = submit(client, body)["id"]
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
        [unsent] = outbox_rows(database, job_id)
        assert unsent.sent_at is None
        assert unsent.attempts >= 1
        assert unsent.last_error

        # The broker is reachable again for the relay: a worker and beat on the real broker.
        stack.start_worker()
        start_beat(stack, relay_interval=0.5)
        job = stack.wait_finished(client, job_id, timeout=HANG_SECONDS)

    assert job["status"] == "succeeded", job
    assert job["attempts"] == 1  # started once: the message was published once
    [sent] = outbox_rows(database, job_id)
    assert sent.sent_at is not None
