"""Use cases of the jobs API, on in-memory ports."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import msgspec
import pytest

from domain.errors import InvalidRequest, NotFound
from domain.jobs import JobStatus
from domain.problem import Assignment, problem_decoder
from domain.services.jobs import (
    SubmitJob,
    get_job,
    get_solution_json,
    list_assignments,
    list_jobs,
    submit_job,
)
from domain.tenancy import Principal, Role
from tests.fakes import FakeQueue, FixedClock, Store, fake_uow_factory

SAMPLE = Path(__file__).parents[2] / "domain" / "samples" / "sample.json"


@pytest.fixture
def problem():
    return problem_decoder.decode(SAMPLE.read_bytes())


@pytest.fixture
def store():
    return Store()


def uow_factory(store):
    return fake_uow_factory(store)


def principal():
    return Principal(tenant_id=uuid.uuid4(), role=Role.SERVICE)


CLOCK = FixedClock()  # one clock, so jobs submitted one after another are ordered in time


def submit(store, problem, who, queue=None, *, max_time_limit=30.0):
    return submit_job(
        SubmitJob(principal=who, problem=problem, correlation_id="req-1"),
        uow_factory(store),
        queue or FakeQueue(),
        CLOCK,
        max_time_limit=max_time_limit,
    ).job


def test_submit_stores_a_queued_job_and_publishes_it_after_commit(store, problem):
    queue = FakeQueue()
    who = principal()
    job = submit(store, problem, who, queue)
    assert job.status is JobStatus.QUEUED
    assert store.jobs[job.id].tenant_id == who.tenant_id
    assert store.problems[job.id] == problem
    assert queue.sent == [(job.id, "req-1")]


def test_submit_caps_the_time_limit_at_the_server_maximum(store, problem):
    slow = msgspec.structs.replace(
        problem, options=msgspec.structs.replace(problem.options, time_limit_seconds=600)
    )
    job = submit(store, slow, principal(), max_time_limit=30.0)
    assert job.time_limit_seconds == 30.0
    assert store.problems[job.id].options.time_limit_seconds == 30.0


def test_a_broker_outage_keeps_the_job_queued_instead_of_losing_it(store, problem):
    job = submit(store, problem, principal(), FakeQueue(broken=True))
    assert store.jobs[job.id].status is JobStatus.QUEUED


def test_another_tenants_job_is_not_found(store, problem):
    job = submit(store, problem, principal())
    with pytest.raises(NotFound) as caught:
        get_job(principal(), job.id, uow_factory(store))
    assert caught.value.code == "JOB_NOT_FOUND"


def test_list_pages_newest_first_without_gaps_or_repeats(store, problem):
    who = principal()
    ids = [submit(store, problem, who).id for _ in range(7)]
    submit(store, problem, principal())  # someone else's
    seen, cursor = [], None
    while True:
        page = list_jobs(who, uow_factory(store), cursor=cursor, limit=3)
        seen += [j.id for j in page.items]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(reversed(ids))


def test_list_filters_by_status(store, problem):
    who = principal()
    first = submit(store, problem, who)
    submit(store, problem, who)
    store.jobs[first.id] = msgspec.structs.replace(store.jobs[first.id], status=JobStatus.FAILED)
    page = list_jobs(who, uow_factory(store), status=JobStatus.FAILED)
    assert [j.id for j in page.items] == [first.id]


@pytest.mark.parametrize("cursor", ["!!!", "bm90LWEtY3Vyc29y", "MjAyNC0wMS0wMXxub3QtYS11dWlk"])
def test_a_malformed_cursor_is_a_clear_error(store, cursor):
    with pytest.raises(InvalidRequest) as caught:
        list_jobs(principal(), uow_factory(store), cursor=cursor)
    assert caught.value.code == "INVALID_CURSOR"


@pytest.mark.parametrize("limit", [0, 1001])
def test_page_size_is_bounded(store, limit):
    with pytest.raises(InvalidRequest):
        list_jobs(principal(), uow_factory(store), limit=limit)


def test_solution_is_not_ready_until_the_job_has_one(store, problem):
    who = principal()
    job = submit(store, problem, who)
    with pytest.raises(NotFound) as caught:
        get_solution_json(who, job.id, uow_factory(store))
    assert caught.value.code == "SOLUTION_NOT_READY"
    store.solutions[job.id] = b'{"status":"optimal"}'
    assert get_solution_json(who, job.id, uow_factory(store)) == b'{"status":"optimal"}'


def test_assignments_filter_and_page(store, problem):
    who = principal()
    job = submit(store, problem, who)
    day = dt.date(2024, 1, 1)
    store.assignments[job.id] = [
        Assignment(employee=e, date=day + dt.timedelta(days=d), shift="D")
        for d in range(3)
        for e in ("A", "B", "C")
    ]
    by_employee = list_assignments(who, job.id, uow_factory(store), employee="B")
    assert [(a.date.day, a.employee) for a in by_employee.items] == [(1, "B"), (2, "B"), (3, "B")]
    first = list_assignments(who, job.id, uow_factory(store), date=day, limit=2)
    assert [a.employee for a in first.items] == ["A", "B"]
    rest = list_assignments(
        who, job.id, uow_factory(store), date=day, limit=2, cursor=first.next_cursor
    )
    assert ([a.employee for a in rest.items], rest.next_cursor) == (["C"], None)


def test_assignments_of_another_tenants_job_are_not_found(store, problem):
    job = submit(store, problem, principal())
    with pytest.raises(NotFound):
        list_assignments(principal(), job.id, uow_factory(store))
