"""The worker's use case, run_job, on in-memory ports and a scripted solver."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import msgspec
import pytest

from domain.jobs import ErrorCode, Job, JobStatus
from domain.problem import Assignment, Solution, Violation, encode, problem_decoder
from domain.services.solving import RunSettings, run_job
from domain.solver.cache_key import cache_key
from domain.solver.runner import Progress
from tests.fakes import (
    FakeAssignments,
    FakeCache,
    FakeUnitOfWork,
    FixedClock,
    Store,
    fake_uow_factory,
)

SAMPLE = Path(__file__).parents[2] / "domain" / "samples" / "sample.json"
DAY = dt.date(2024, 1, 1)
ROSTER = [
    Assignment(employee="A", date=DAY, shift="D"),
    Assignment(employee="B", date=DAY, shift="L"),
]


def solution(status="optimal", **changes) -> Solution:
    base = Solution(status=status, objective=7, lower_bound=7, solver="cp-sat", assignments=ROSTER)
    return msgspec.structs.replace(base, **changes)


class ScriptedSolver:
    """Returns `result` (or raises it), reporting `reports` progress steps first."""

    def __init__(self, result, reports=0, during=None):
        self.result = result
        self.reports = reports
        self.during = during
        self.calls = 0

    def __call__(self, problem, *, on_progress, should_cancel):
        self.calls += 1
        for i in range(self.reports):
            on_progress(Progress(objective=100 - i, bound=1, elapsed=0.1 * i, solver="cp-sat"))
        if self.during:
            self.during()
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


@pytest.fixture
def store():
    return Store()


def queued_job(store, *, use_cache=True, **changes) -> Job:
    problem = problem_decoder.decode(SAMPLE.read_bytes())
    problem = msgspec.structs.replace(
        problem, options=msgspec.structs.replace(problem.options, use_cache=use_cache)
    )
    job = Job(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        status=JobStatus.QUEUED,
        created_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        correlation_id="req-1",
        cache_key=cache_key(problem),
        time_limit_seconds=problem.options.time_limit_seconds,
    )
    job = msgspec.structs.replace(job, **changes)
    store.jobs[job.id] = job
    store.problems[job.id] = problem
    return job


def run(store, job, solver, cache=None, **settings):
    return run_job(
        job.id,
        fake_uow_factory(store),
        cache if cache is not None else FakeCache(),
        solver,
        FixedClock(),
        RunSettings(**settings),
    )


def test_a_solved_job_stores_summary_solution_and_assignments_and_fills_the_cache(store):
    job = queued_job(store)
    cache = FakeCache()
    assert run(store, job, ScriptedSolver(solution()), cache, cache_ttl_seconds=60) == "succeeded"
    done = store.jobs[job.id]
    assert (done.status, done.attempts, done.error_code) == (JobStatus.SUCCEEDED, 1, None)
    assert (done.summary.objective, done.summary.assignments, done.summary.solver) == (
        7,
        2,
        "cp-sat",
    )
    assert store.assignments[job.id] == ROSTER
    assert msgspec.json.decode(store.solutions[job.id])["objective"] == 7
    assert cache.ttls == {job.cache_key: 60}


def test_a_finished_job_is_left_alone(store):
    job = queued_job(store, status=JobStatus.SUCCEEDED)
    solver = ScriptedSolver(solution())
    assert run(store, job, solver) is None
    assert solver.calls == 0


def test_a_job_whose_worker_kept_dying_fails_with_worker_lost(store):
    job = queued_job(store, status=JobStatus.RUNNING, attempts=3)
    solver = ScriptedSolver(solution())
    assert run(store, job, solver, max_attempts=3) == "failed"
    assert solver.calls == 0
    assert store.jobs[job.id].error_code == ErrorCode.WORKER_LOST


def test_an_orphaned_running_job_is_retried_as_a_new_attempt(store):
    job = queued_job(store, status=JobStatus.RUNNING, attempts=1)
    assert run(store, job, ScriptedSolver(solution()), max_attempts=3) == "succeeded"
    assert store.jobs[job.id].attempts == 2


def test_a_cache_hit_answers_without_solving(store):
    job = queued_job(store)
    cache = FakeCache()
    cache.put(job.cache_key, encode(solution(solver="heuristic")), 60)
    solver = ScriptedSolver(solution())
    assert run(store, job, solver, cache) == "succeeded"
    assert solver.calls == 0
    stored = msgspec.json.decode(store.solutions[job.id])
    assert (stored["solver"], stored["stats"]["cached_solver"]) == ("cache", "heuristic")
    assert store.jobs[job.id].summary.solver == "cache"


def test_use_cache_false_neither_reads_nor_writes_the_cache(store):
    job = queued_job(store, use_cache=False)
    cache = FakeCache()
    cache.put(job.cache_key, encode(solution(objective=999)), 60)
    solver = ScriptedSolver(solution())
    run(store, job, solver, cache)
    assert solver.calls == 1
    assert store.jobs[job.id].summary.objective == 7
    assert msgspec.json.decode(cache.entries[job.cache_key])["objective"] == 999


def test_an_undecodable_cache_entry_is_ignored(store):
    job = queued_job(store)
    cache = FakeCache()
    cache.put(job.cache_key, b"not json", 60)
    solver = ScriptedSolver(solution())
    assert run(store, job, solver, cache) == "succeeded"
    assert solver.calls == 1


def test_a_solver_crash_fails_the_job_with_solver_error(store):
    job = queued_job(store)
    assert run(store, job, ScriptedSolver(RuntimeError("boom"))) == "failed"
    assert store.jobs[job.id].error_code == ErrorCode.SOLVER_ERROR
    assert job.id not in store.assignments


def test_an_infeasible_problem_fails_with_infeasible_and_is_not_cached(store):
    job = queued_job(store)
    cache = FakeCache()
    result = solution("infeasible", objective=None, lower_bound=None, assignments=[])
    assert run(store, job, ScriptedSolver(result), cache) == "failed"
    assert store.jobs[job.id].error_code == ErrorCode.INFEASIBLE
    assert cache.entries == {}


def test_a_roster_that_breaks_a_hard_rule_is_never_a_success(store):
    job = queued_job(store)
    broken = solution("feasible", hard_violations=[Violation(rule="max_shifts", employee="A")])
    assert run(store, job, ScriptedSolver(broken)) == "failed"
    done = store.jobs[job.id]
    assert done.error_code == ErrorCode.NO_SOLUTION
    assert "1 hard rule" in done.error_detail


def test_progress_is_stored_at_most_once_per_interval(store):
    job = queued_job(store)
    seen = []

    def peek():
        seen.append(store.jobs[job.id].progress)

    run(
        store, job, ScriptedSolver(solution(), reports=5, during=peek), progress_interval_seconds=60
    )
    # Five reports within a second: only the first was written.
    assert seen[0].objective == 100


def test_when_another_run_finished_first_nothing_is_written(store):
    job = queued_job(store)

    def finish_elsewhere():
        with FakeUnitOfWork(store) as uow:
            uow.jobs.finish(job.id, attempt=None, status=JobStatus.CANCELLED, now=CLOCK())
            uow.commit()

    assert run(store, job, ScriptedSolver(solution(), during=finish_elsewhere)) is None
    assert store.jobs[job.id].status is JobStatus.CANCELLED
    assert job.id not in store.assignments


def test_a_failed_write_leaves_the_job_unfinished(store, monkeypatch):
    job = queued_job(store)

    def broken_insert(self, job_id, assignments):
        raise OSError("disk full")

    monkeypatch.setattr(FakeAssignments, "add_all", broken_insert)
    with pytest.raises(OSError):
        run(store, job, ScriptedSolver(solution()))
    # The final status and the assignments share one transaction: neither was written.
    assert store.jobs[job.id].status is JobStatus.RUNNING
    assert job.id not in store.solutions


CLOCK = FixedClock()
