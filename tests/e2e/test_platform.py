"""End to end: the API served by uvicorn and a real Celery worker, on PostgreSQL and Redis.

A shared Curtois instance goes in over HTTP and comes back as a roster the independent
evaluator accepts; the same problem again is answered from the cache; tenants never see each
other's jobs; a queued job survives an API restart.
"""

from __future__ import annotations

import msgspec
import pytest

from domain.formats.curtois import load_problem_file
from domain.problem import Assignment, problem_decoder, solution_decoder
from domain.solver.evaluator import evaluate
from tests.benchmark_data import curtois_instance
from tests.e2e.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("platform")]


@pytest.fixture(scope="module")
def stack(postgres_url, redis_url, tmp_path_factory):
    stack = Stack(postgres_url, redis_url, tmp_path_factory.mktemp("stack"))
    try:
        stack.start_api()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="module")
def instance1() -> bytes:
    problem = load_problem_file(curtois_instance(1))
    options = msgspec.structs.replace(problem.options, time_limit_seconds=5.0)
    return msgspec.json.encode(msgspec.structs.replace(problem, options=options))


def submit(client, body: bytes) -> str:
    response = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.text
    assert response.headers["Location"] == f"/v1/jobs/{response.json()['id']}"
    return response.json()["id"]


def test_a_curtois_instance_is_solved_into_a_roster_the_evaluator_accepts(stack, instance1):
    with stack.client(stack.api_key("acme")) as client:
        job = stack.wait_finished(client, submit(client, instance1))
        assert job["status"] == "succeeded", job
        solution = solution_decoder.decode(client.get(f"/v1/jobs/{job['id']}/solution").content)
        check = evaluate(problem_decoder.decode(instance1), solution.assignments)
        assert check.violations == []
        assert check.objective == solution.objective == job["summary"]["objective"]

        # The assignments endpoint pages through exactly the stored roster.
        rows, cursor = [], None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = client.get(f"/v1/jobs/{job['id']}/assignments", params=params).json()
            rows += msgspec.convert(page["items"], list[Assignment])
            cursor = page.get("next_cursor")
            if not cursor:
                break
        key = lambda a: (a.date, a.employee)  # noqa: E731
        assert sorted(rows, key=key) == sorted(solution.assignments, key=key)


def test_the_same_problem_again_is_answered_from_the_cache(stack, instance1):
    with stack.client(stack.api_key("acme")) as client:
        first = stack.wait_finished(client, submit(client, instance1))
        again = stack.wait_finished(client, submit(client, instance1))
        assert again["status"] == "succeeded"
        assert again["summary"]["solver"] == "cache"
        assert again["summary"]["objective"] == first["summary"]["objective"]


def test_tenants_never_see_each_others_jobs(stack, instance1):
    with stack.client(stack.api_key("acme")) as acme, stack.client(stack.api_key("rival")) as rival:
        job_id = submit(acme, instance1)
        for path in ("", "/solution", "/assignments"):
            response = rival.get(f"/v1/jobs/{job_id}{path}")
            assert response.status_code == 404
            assert response.json()["code"] == "JOB_NOT_FOUND"
        assert job_id not in [j["id"] for j in rival.get("/v1/jobs").json()["items"]]
        assert job_id in [j["id"] for j in acme.get("/v1/jobs").json()["items"]]
        stack.wait_finished(acme, job_id)


def test_a_queued_job_survives_an_api_restart(stack, instance1):
    stack.stop_worker()
    key = stack.api_key("acme")
    body = msgspec.json.encode(
        {**msgspec.json.decode(instance1), "options": {"time_limit_seconds": 3, "seed": 11}}
    )
    with stack.client(key) as client:
        job_id = submit(client, body)
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
    stack.stop_api()
    stack.start_api()
    stack.start_worker()
    with stack.client(key) as client:
        assert stack.wait_finished(client, job_id)["status"] == "succeeded"
