"""Cancelling jobs, on in-memory ports: queued, running and finished jobs."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import msgspec
import pytest

from domain.errors import Conflict, NotFound
from domain.jobs import Job, JobStatus
from domain.problem import Assignment, Solution, problem_decoder, solution_decoder
from domain.services.cancel import cancel_job
from domain.services.solving import RunSettings, run_job
from domain.solver.cache_key import cache_key
from domain.tenancy import Principal, Role
from tests.fakes import FakeCache, FakeUnitOfWork, FixedClock, Store, fake_uow_factory

SAMPLE = Path(__file__).parents[2] / "domain" / "samples" / "sample.json"
PROBLEM = problem_decoder.decode(SAMPLE.read_bytes())
DAY = dt.date(2024, 1, 1)
BEST_SO_FAR = Solution(
    status="feasible",
    objective=40,
    lower_bound=3,
    solver="cp-sat",
    assignments=[Assignment(employee="A", date=DAY, shift="D")],
    stats={"outcome": "cancelled"},
)


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def who() -> Principal:
    return Principal(tenant_id=uuid.uuid4(), role=Role.SERVICE)


def add_job(store: Store, who: Principal, status: JobStatus = JobStatus.QUEUED) -> Job:
    job = Job(
        id=uuid.uuid4(),
        tenant_id=who.tenant_id,
        status=status,
        created_at=dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        correlation_id="req-1",
        cache_key=cache_key(PROBLEM),
        time_limit_seconds=10.0,
    )
    store.jobs[job.id] = job
    store.problems[job.id] = PROBLEM
    return job


class StoppableSolver:
    """Polls should_cancel like the runner; `before_poll` runs once, before the first poll."""

    def __init__(self, before_poll=None, polls: int = 50) -> None:
        self.before_poll = before_poll
        self.polls = polls
        self.calls = 0
        self.stopped = False

    def __call__(self, problem, *, on_progress, should_cancel) -> Solution:
        self.calls += 1
        if self.before_poll:
            self.before_poll()
        for _ in range(self.polls):
            if should_cancel():
                self.stopped = True
                return BEST_SO_FAR
        return msgspec.structs.replace(BEST_SO_FAR, status="optimal", stats={})


def run(store, solver, clock, **settings):
    return run_job(
        next(iter(store.jobs)),
        fake_uow_factory(store),
        FakeCache(),
        solver,
        clock,
        RunSettings(**settings),
    )


def test_a_queued_job_is_cancelled_at_once_and_never_starts(store, clock, who):
    job = add_job(store, who)
    result = cancel_job(who, job.id, fake_uow_factory(store), clock)
    assert result.immediate
    assert result.job.status is JobStatus.CANCELLED
    assert store.jobs[job.id].finished_at is not None

    solver = StoppableSolver()
    assert run(store, solver, clock) is None
    assert solver.calls == 0
    assert store.jobs[job.id].attempts == 0


def test_a_running_job_is_asked_to_stop_and_ends_cancelled_with_its_best_roster(store, clock, who):
    job = add_job(store, who)

    def cancel_while_running() -> None:
        assert store.jobs[job.id].status is JobStatus.RUNNING
        result = cancel_job(who, job.id, fake_uow_factory(store), clock)
        assert not result.immediate
        assert result.job.status is JobStatus.RUNNING
        assert result.job.cancel_requested_at is not None

    solver = StoppableSolver(before_poll=cancel_while_running)
    cache = FakeCache()
    status = run_job(job.id, fake_uow_factory(store), cache, solver, clock, RunSettings())

    assert solver.stopped
    assert status is JobStatus.CANCELLED
    stored = store.jobs[job.id]
    assert stored.status is JobStatus.CANCELLED
    assert stored.summary is not None
    assert stored.summary.objective == 40
    assert solution_decoder.decode(store.solutions[job.id]).assignments == BEST_SO_FAR.assignments
    assert store.assignments[job.id] == BEST_SO_FAR.assignments
    assert cache.entries == {}  # a roster cut short is not an answer to reuse


def test_the_solve_asks_the_database_at_most_once_per_interval(store, clock, who):
    add_job(store, who)
    reads = 0

    class Counting(FakeUnitOfWork):
        def __enter__(self):
            nonlocal reads
            reads += self._read_only
            return super().__enter__()

    solver = StoppableSolver(polls=200)
    run_job(
        next(iter(store.jobs)),
        lambda read_only=False: Counting(store, read_only=read_only),
        FakeCache(),
        solver,
        clock,
        RunSettings(cancel_poll_seconds=3600),
    )
    assert solver.calls == 1
    assert reads == 1


def test_cancelling_twice_keeps_the_first_request(store, clock, who):
    job = add_job(store, who, JobStatus.RUNNING)
    first = cancel_job(who, job.id, fake_uow_factory(store), clock).job.cancel_requested_at
    again = cancel_job(who, job.id, fake_uow_factory(store), clock)
    assert not again.immediate
    assert again.job.cancel_requested_at == first


@pytest.mark.parametrize("status", [JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED])
def test_a_finished_job_cannot_be_cancelled(store, clock, who, status):
    job = add_job(store, who, status)
    with pytest.raises(Conflict) as caught:
        cancel_job(who, job.id, fake_uow_factory(store), clock)
    assert caught.value.code == "JOB_FINISHED"
    assert store.jobs[job.id].status is status


def test_another_tenants_job_is_not_found(store, clock, who):
    job = add_job(store, who)
    stranger = Principal(tenant_id=uuid.uuid4(), role=Role.SERVICE)
    with pytest.raises(NotFound) as caught:
        cancel_job(stranger, job.id, fake_uow_factory(store), clock)
    assert caught.value.code == "JOB_NOT_FOUND"
    assert store.jobs[job.id].status is JobStatus.QUEUED


def test_a_redelivered_job_that_was_asked_to_stop_ends_without_solving(store, clock, who):
    job = add_job(store, who, JobStatus.RUNNING)
    store.jobs[job.id] = msgspec.structs.replace(
        store.jobs[job.id], attempts=1, cancel_requested_at=clock()
    )
    solver = StoppableSolver()
    assert run(store, solver, clock) is JobStatus.CANCELLED
    assert solver.calls == 0
    assert store.jobs[job.id].status is JobStatus.CANCELLED
