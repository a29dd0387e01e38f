"""A real Celery worker solves published jobs once, idempotently, and reuses the cache
(the worker and its helpers: tests/integration/worker_support.py)."""

from __future__ import annotations

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
    log = platform.log_tail()
    assert "invalid job id 'not-a-job-id'" in log
    # The task's own lines and Celery's "succeeded" line, all logged in the pool process.
    lines = [line for line in log.splitlines() if str(job_id) in line and "ForkPool" in line]
    assert any(f"solving job {job_id}" in line for line in lines)
    assert any("succeeded in" in line for line in lines)
    assert all(f"[{correlation_id}]" in line for line in lines)
