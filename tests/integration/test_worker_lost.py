"""A worker process killed in the middle of a solve: the message is delivered again
(task_acks_late + task_reject_on_worker_lost) and the next attempt finishes the job.

The solver child is told to hang (domain.solver.child's ROTA_SOLVER_FAULT test hook), so a
solve lasts its whole time limit plus the runner's grace, and the pool process can be killed
while it is certainly solving, not by luck of timing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from domain.jobs import JobStatus
from domain.solver.child import FAULT_ENV
from tests.integration.worker_support import Platform, children, running_platform, tiny_problem

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hanging_solver(postgres_url, redis_url, tmp_path_factory) -> Iterator[Platform]:
    log = tmp_path_factory.mktemp("worker-lost") / "worker.log"
    with running_platform(postgres_url, redis_url, log, {FAULT_ENV: "hang"}) as platform:
        yield platform


def test_a_job_whose_worker_process_died_is_finished_by_the_next_attempt(hanging_solver):
    platform = hanging_solver
    job_id = platform.submit(tiny_problem(use_cache=False, time_limit=2.0))
    platform.wait_until(job_id, lambda job: job.attempts == 1, "see the job start")
    (pool,) = children(platform.worker.pid)
    solver_children = platform.wait_for(lambda: children(pool), "see the solver child start")

    os.kill(pool, signal.SIGKILL)
    for pid in solver_children:  # orphaned by the kill, and told to ignore SIGTERM
        os.kill(pid, signal.SIGKILL)
    done = platform.wait_finished(job_id)

    assert done.attempts == 2
    assert done.status is JobStatus.SUCCEEDED, done.error_detail
    assert done.summary is not None
    assert done.summary.solver == "heuristic"  # what a hung CP-SAT leaves
    assert len(platform.assignments(job_id)) == done.summary.assignments
