"""A real Celery worker solves published jobs once, idempotently, and reuses the cache
(the worker and its helpers: tests/integration/worker_support.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest

from domain.adapters.celery_config import SOLVE_QUEUE, SOLVE_TASK
from domain.jobs import JobStatus
from tests.integration.worker_support import Platform, running_platform, tiny_problem

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def platform(postgres_url, redis_url, tmp_path_factory) -> Iterator[Platform]:
    """One worker for the module: each test uses jobs and cache keys of its own."""
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    with running_platform(postgres_url, redis_url, log) as platform:
        yield platform


def test_a_job_is_solved_once_and_a_second_publish_changes_nothing(platform):
    job_id = platform.submit(tiny_problem())

    done = platform.wait_finished(job_id)

    assert done.status is JobStatus.SUCCEEDED, done.error_detail
    assert done.attempts == 1
    assert done.summary is not None
    assert done.summary.solver == "cp-sat"
    assert done.summary.hard_violations == 0
    solution = platform.solution(job_id)
    assert done.summary.objective == solution.objective
    written = platform.assignments(job_id)
    assert len(written) == done.summary.assignments == len(solution.assignments)
    assert sorted(written, key=repr) == sorted(solution.assignments, key=repr)

    platform.queue.enqueue_solve(job_id, "test-again")  # a duplicate message
    later = platform.submit(tiny_problem(use_cache=False))  # handled after the duplicate
    platform.wait_finished(later)

    assert platform.job(job_id) == done
    assert len(platform.assignments(job_id)) == len(written)


def test_the_same_problem_again_is_answered_from_the_cache(platform):
    problem = tiny_problem()
    first = platform.wait_finished(platform.submit(problem))
    assert first.status is JobStatus.SUCCEEDED

    second = platform.wait_finished(platform.submit(problem))

    assert second.status is JobStatus.SUCCEEDED
    assert second.summary is not None
    assert second.summary.solver == "cache"
    assert second.summary.objective == first.summary.objective
    assert len(platform.assignments(second.id)) == second.summary.assignments


def test_an_invalid_id_is_dropped_and_log_lines_carry_the_correlation_id(platform):
    platform.producer.send_task(SOLVE_TASK, args=["not-a-job-id"], queue=SOLVE_QUEUE)
    correlation_id = f"corr-{uuid.uuid4().hex[:12]}"

    job_id = platform.submit(tiny_problem(use_cache=False), correlation_id)
    done = platform.wait_finished(job_id)

    assert done.status is JobStatus.SUCCEEDED
    records = json_lines(platform.log.read_text(errors="replace"))
    assert any("invalid job id 'not-a-job-id'" in r["event"] for r in records)
    # The task's own lines and Celery's "succeeded" line, all logged in the pool process.
    lines = [r for r in records if str(job_id) in r["event"] and "ForkPool" in r["process"]]
    assert any(f"solving job {job_id}" in r["event"] for r in lines)
    assert any("succeeded in" in r["event"] for r in lines)
    assert all(r["correlation_id"] == correlation_id for r in lines)


def json_lines(text: str) -> list[dict]:
    """The worker's log records (JSON lines); Celery's start-up banner is plain text."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records
