"""Every repository method of domain.ports on a real database, PostgreSQL and SQLite alike.

Each behaviour is the one of the in-memory reference (tests/fakes.py); the listing and paging
tests run the same data through both and compare.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import msgspec
import pytest
import sqlalchemy as sa

from domain.adapters.db import migrate, sql_uow_factory
from domain.adapters.db.engine import make_engine
from domain.adapters.db.tables import assignments as assignments_table
from domain.adapters.db.tables import jobs as jobs_table
from domain.jobs import JobProgress, JobStatus, JobSummary
from domain.ports import UnitOfWorkFactory
from domain.problem import Assignment, solution_decoder
from domain.settings import Settings
from tests.fakes import FakeUnitOfWork, Store, fake_uow_factory
from tests.integration import records as r

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'rota.db'}"
    migrate.upgrade(url)
    engine = make_engine(Settings(), url=url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def engine(request: pytest.FixtureRequest) -> sa.Engine:
    name = "db_engine" if request.param == "postgresql" else "sqlite_engine"
    return request.getfixturevalue(name)


@pytest.fixture
def uow(engine: sa.Engine) -> UnitOfWorkFactory:
    return sql_uow_factory(engine)


@pytest.fixture
def tenant_id(uow: UnitOfWorkFactory) -> uuid.UUID:
    return new_tenant_id(uow)


def new_tenant_id(uow: UnitOfWorkFactory) -> uuid.UUID:
    tenant = r.tenant()
    with uow() as w:
        w.tenants.add(tenant)
        w.commit()
    return tenant.id


def add_job(uow: UnitOfWorkFactory, tenant_id: uuid.UUID, **fields: object):
    job = r.job(tenant_id, **fields)
    with uow() as w:
        w.jobs.add(job, r.problem())
        w.commit()
    return job


# --- tenants and API keys ---------------------------------------------------------------------


def test_a_tenant_is_found_by_its_name(uow):
    tenant = r.tenant()
    with uow() as w:
        w.tenants.add(tenant)
        w.commit()
    with uow() as w:
        assert w.tenants.get_by_name(tenant.name) == tenant
        assert w.tenants.get_by_name(tenant.name + "-other") is None


def test_two_tenants_cannot_share_a_name(uow):
    tenant = r.tenant()
    with uow() as w:
        w.tenants.add(tenant)
        w.commit()
    with uow() as w, pytest.raises(sa.exc.IntegrityError):
        w.tenants.add(msgspec.structs.replace(r.tenant(), name=tenant.name))


def test_an_api_key_is_found_by_its_hash_with_every_field(uow, tenant_id):
    key = r.api_key(tenant_id)
    with uow() as w:
        w.api_keys.add(key)
        w.commit()
    with uow() as w:
        assert w.api_keys.get_by_hash(key.key_hash) == key
        assert w.api_keys.get_by_hash("0" * 64) is None


def test_a_revoked_key_is_still_returned_with_its_revocation(uow, tenant_id):
    revoked = r.T0 + dt.timedelta(days=1)
    key = r.api_key(tenant_id, revoked_at=revoked)
    with uow() as w:
        w.api_keys.add(key)
        w.commit()
    with uow() as w:
        assert w.api_keys.get_by_hash(key.key_hash).revoked_at == revoked


def test_touch_records_the_last_use_in_utc(uow, tenant_id):
    key = r.api_key(tenant_id)
    # Given in another offset, read back as the same instant in UTC.
    when = dt.datetime(2026, 2, 1, 12, 0, 0, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with uow() as w:
        w.api_keys.add(key)
        w.api_keys.touch(key.id, when)
        w.commit()
    with uow() as w:
        last_used = w.api_keys.get_by_hash(key.key_hash).last_used_at
    assert last_used == when
    assert last_used.tzinfo == dt.UTC


# --- jobs: rows, problems, solutions ----------------------------------------------------------


def test_a_job_and_its_problem_read_back_as_stored(uow, tenant_id):
    job = add_job(uow, tenant_id)
    with uow() as w:
        assert w.jobs.get(job.id) == job
        assert w.jobs.problem(job.id) == r.problem()
        assert w.jobs.problem(uuid.uuid4()) is None


def test_the_options_column_copies_the_problems_options(uow, engine, tenant_id):
    job = add_job(uow, tenant_id)
    with engine.connect() as conn:
        options = conn.execute(
            sa.select(jobs_table.c.options).where(jobs_table.c.id == job.id)
        ).scalar_one()
    assert options == msgspec.to_builtins(r.problem().options)


def test_get_with_a_tenant_only_finds_that_tenants_jobs(uow, tenant_id):
    job = add_job(uow, tenant_id)
    with uow() as w:
        assert w.jobs.get(job.id, tenant_id) == job
        assert w.jobs.get(job.id, uuid.uuid4()) is None
        assert w.jobs.get(uuid.uuid4(), tenant_id) is None


def test_the_solution_json_round_trips_and_is_scoped_to_the_tenant(uow, tenant_id):
    job = add_job(uow, tenant_id)
    solution = r.solution()
    with uow() as w:
        assert w.jobs.solution_json(job.id, tenant_id) is None  # not solved yet
        attempt = w.jobs.start(job.id, r.T0, 3)
        w.jobs.finish(
            job.id, attempt=attempt, status=JobStatus.SUCCEEDED, now=r.T0, solution=solution
        )
        w.commit()
    with uow() as w:
        body = w.jobs.solution_json(job.id, tenant_id)
        assert w.jobs.solution_json(job.id, uuid.uuid4()) is None
    assert isinstance(body, bytes)
    assert solution_decoder.decode(body) == solution


# --- jobs: guarded state changes --------------------------------------------------------------


def test_start_marks_the_job_running_and_counts_the_attempt(uow, tenant_id):
    job = add_job(uow, tenant_id)
    later = r.T0 + dt.timedelta(seconds=5)
    with uow() as w:
        assert w.jobs.start(job.id, later, 3) == 1
        # An orphaned running job (its worker died) may be started again.
        assert w.jobs.start(job.id, later, 3) == 2
        w.commit()
    with uow() as w:
        stored = w.jobs.get(job.id)
    assert (stored.status, stored.attempts, stored.started_at) == (JobStatus.RUNNING, 2, later)


def test_start_refuses_once_the_attempts_are_used_up(uow, tenant_id):
    job = add_job(uow, tenant_id)
    with uow() as w:
        assert [w.jobs.start(job.id, r.T0, 2) for _ in range(3)] == [1, 2, None]
        assert w.jobs.get(job.id).attempts == 2


def test_a_second_start_after_finish_returns_none(uow, tenant_id):
    job = add_job(uow, tenant_id)
    with uow() as w:
        attempt = w.jobs.start(job.id, r.T0, 3)
        assert w.jobs.finish(job.id, attempt=attempt, status=JobStatus.SUCCEEDED, now=r.T0)
        assert w.jobs.start(job.id, r.T0, 3) is None
        assert w.jobs.get(job.id).status == JobStatus.SUCCEEDED


def test_finish_with_a_stale_attempt_changes_nothing(uow, tenant_id):
    job = add_job(uow, tenant_id)
    with uow() as w:
        stale = w.jobs.start(job.id, r.T0, 3)
        w.jobs.start(job.id, r.T0, 3)  # a redelivered message took the job over
        before = w.jobs.get(job.id)
        changed = w.jobs.finish(
            job.id,
            attempt=stale,
            status=JobStatus.FAILED,
            now=r.T0,
            solution=r.solution(),
            error_code="SOLVER_ERROR",
        )
        assert changed is False
        assert w.jobs.get(job.id) == before
        assert w.jobs.solution_json(job.id, tenant_id) is None


def test_a_finished_job_cannot_be_finished_again(uow, tenant_id):
    job = add_job(uow, tenant_id)
    with uow() as w:
        attempt = w.jobs.start(job.id, r.T0, 3)
        assert w.jobs.finish(job.id, attempt=attempt, status=JobStatus.SUCCEEDED, now=r.T0)
        assert not w.jobs.finish(job.id, attempt=None, status=JobStatus.CANCELLED, now=r.T0)
        assert w.jobs.get(job.id).status == JobStatus.SUCCEEDED


def test_finish_without_an_attempt_ends_a_queued_job_with_every_field(uow, tenant_id):
    job = add_job(uow, tenant_id)
    summary = JobSummary.of(r.solution(), 1.25)
    done = r.T0 + dt.timedelta(minutes=1)
    with uow() as w:
        assert w.jobs.finish(
            job.id,
            attempt=None,
            status=JobStatus.FAILED,
            now=done,
            summary=summary,
            error_code="WORKER_LOST",
            error_detail="lost 3 times",
        )
        w.commit()
    with uow() as w:
        stored = w.jobs.get(job.id)
    assert stored == msgspec.structs.replace(
        job,
        status=JobStatus.FAILED,
        finished_at=done,
        summary=summary,
        error_code="WORKER_LOST",
        error_detail="lost 3 times",
    )


def test_finish_with_an_attempt_needs_the_job_running(uow, tenant_id):
    job = add_job(uow, tenant_id)
    with uow() as w:
        assert not w.jobs.finish(job.id, attempt=0, status=JobStatus.SUCCEEDED, now=r.T0)
        assert w.jobs.get(job.id).status == JobStatus.QUEUED


def test_progress_is_stored_only_for_the_running_attempt(uow, tenant_id):
    job = add_job(uow, tenant_id)
    first = JobProgress(objective=40, bound=10, elapsed_seconds=1.5, solver="cp-sat")
    with uow() as w:
        assert not w.jobs.record_progress(job.id, 1, first)  # still queued
        w.jobs.start(job.id, r.T0, 3)
        assert w.jobs.record_progress(job.id, 1, first)
        w.jobs.start(job.id, r.T0, 3)
        assert not w.jobs.record_progress(job.id, 1, JobProgress(objective=1))  # stale attempt
        assert w.jobs.get(job.id).progress == first
        w.jobs.finish(job.id, attempt=2, status=JobStatus.SUCCEEDED, now=r.T0)
        assert not w.jobs.record_progress(job.id, 2, JobProgress(objective=1))  # finished


def test_of_two_concurrent_starts_with_one_attempt_left_only_one_wins(db_engine):
    """PostgreSQL re-checks the guard on the committed row, so the waiting UPDATE misses."""
    uow = sql_uow_factory(db_engine)
    job = add_job(uow, new_tenant_id(uow))
    results: list[int | None] = []
    with uow() as first:
        assert first.jobs.start(job.id, r.T0, 1) == 1  # holds the row lock until commit

        def second_start() -> None:
            with uow() as second:
                results.append(second.jobs.start(job.id, r.T0, 1))
                second.commit()

        thread = threading.Thread(target=second_start)
        thread.start()
        _wait_for_a_lock_waiter(db_engine, thread)
        first.commit()
    thread.join()
    assert results == [None]


def _wait_for_a_lock_waiter(engine: sa.Engine, thread: threading.Thread) -> None:
    """Until the other transaction waits on a row lock (or its thread ended: it failed)."""
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND datname = current_database()"
    )
    with engine.connect() as conn:
        while thread.is_alive() and not conn.execute(query).scalar_one():
            conn.rollback()  # a fresh snapshot of pg_stat_activity each time


# --- jobs: listing ----------------------------------------------------------------------------


def test_jobs_are_listed_newest_first_and_filtered_by_status(uow, tenant_id):
    old = add_job(uow, tenant_id, created_at=r.T0)
    new = add_job(uow, tenant_id, created_at=r.T0 + dt.timedelta(seconds=1))
    add_job(uow, new_tenant_id(uow), created_at=r.T0 + dt.timedelta(seconds=2))  # another tenant
    with uow() as w:
        w.jobs.start(old.id, r.T0, 3)
        w.commit()
    with uow() as w:
        assert [j.id for j in w.jobs.list(tenant_id, status=None, after=None, limit=10)] == [
            new.id,
            old.id,
        ]
        running = w.jobs.list(tenant_id, status=JobStatus.RUNNING, after=None, limit=10)
        assert [j.id for j in running] == [old.id]
        assert w.jobs.list(tenant_id, status=JobStatus.FAILED, after=None, limit=10) == []


def test_keyset_pages_over_equal_timestamps_match_the_reference(uow, tenant_id):
    same = r.T0 + dt.timedelta(hours=1)
    times = [same] * 7 + [r.T0, r.T0 + dt.timedelta(hours=2), same + dt.timedelta(microseconds=1)]
    jobs = [add_job(uow, tenant_id, created_at=t) for t in times]
    fake = _fake_with(jobs)
    pages, after = [], None
    while True:
        with uow() as w:
            page = w.jobs.list(tenant_id, status=None, after=after, limit=3)
        with fake() as f:
            assert page == f.jobs.list(tenant_id, status=None, after=after, limit=3)
        if not page:
            break
        pages.append(page)
        after = (page[-1].created_at, page[-1].id)
    listed = [j.id for page in pages for j in page]
    assert sorted(listed) == sorted(j.id for j in jobs)  # each job once, none skipped
    assert [len(p) for p in pages] == [3, 3, 3, 1]


def test_a_cursor_in_another_offset_means_the_same_instant(uow, tenant_id):
    jobs = [add_job(uow, tenant_id, created_at=r.T0 + dt.timedelta(seconds=i)) for i in range(3)]
    middle = jobs[1]
    shifted = middle.created_at.astimezone(dt.timezone(dt.timedelta(hours=-5)))
    with uow() as w:
        page = w.jobs.list(tenant_id, status=None, after=(shifted, middle.id), limit=10)
    assert [j.id for j in page] == [jobs[0].id]


def _fake_with(jobs) -> UnitOfWorkFactory:
    store = Store()
    with FakeUnitOfWork(store) as f:
        for job in jobs:
            f.jobs.add(job, r.problem())
        f.commit()
    return fake_uow_factory(store)


# --- assignments ------------------------------------------------------------------------------


def test_assignments_are_paged_by_date_then_employee_like_the_reference(uow, tenant_id):
    job = add_job(uow, tenant_id)
    # Mixed case and digits: byte order, not a locale's, decides (as in Python).
    names = ["b", "B_2", "a", "Zed", "e10", "e9"]
    start = dt.date(2026, 3, 2)
    roster = [
        Assignment(employee=n, date=start + dt.timedelta(days=d), shift="E")
        for d in (2, 0, 1)
        for n in names
    ]
    with uow() as w:
        w.assignments.add_all(job.id, roster)
        w.commit()
    store = Store()
    with FakeUnitOfWork(store) as f:
        f.assignments.add_all(job.id, roster)
        f.commit()
    queries = [
        {"date": None, "employee": None, "after": None},
        {"date": start + dt.timedelta(days=1), "employee": None, "after": None},
        {"date": None, "employee": "b", "after": None},
        {"date": None, "employee": None, "after": (start, "a", "D")},
        {"date": start, "employee": "e9", "after": None},
        {"date": None, "employee": "nobody", "after": None},
    ]
    for query in queries:
        with uow() as w, FakeUnitOfWork(store) as f:
            assert w.assignments.page(job.id, limit=100, **query) == f.assignments.page(
                job.id, limit=100, **query
            ), query


def test_keyset_pages_walk_every_assignment_once(uow, tenant_id):
    job = add_job(uow, tenant_id)
    roster = r.roster(days=5, employees=7)
    with uow() as w:
        w.assignments.add_all(job.id, roster)
        w.commit()
    seen: list[Assignment] = []
    after = None
    while True:
        with uow() as w:
            page = w.assignments.page(job.id, date=None, employee=None, after=after, limit=4)
        if not page:
            break
        seen += page
        after = (page[-1].date, page[-1].employee, page[-1].shift)
    assert seen == sorted(roster, key=lambda a: (a.date, a.employee, a.shift))


def test_a_roster_of_sixty_thousand_rows_is_stored_in_bulk(uow, engine, tenant_id):
    job = add_job(uow, tenant_id)
    roster = r.roster(days=30, employees=2000)
    with uow() as w:
        w.assignments.add_all(job.id, roster)
        w.commit()
    with engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(assignments_table.c.job_id == job.id)
        ).scalar_one()
    assert count == 60_000
    with uow() as w:
        last_day = w.assignments.page(
            job.id, date=dt.date(2026, 3, 31), employee="e01999", after=None, limit=5
        )
    assert last_day == [Assignment(employee="e01999", date=dt.date(2026, 3, 31), shift="E")]


def test_two_shifts_of_one_person_on_one_day_are_both_kept(uow, tenant_id):
    """A roster that breaks the one-shift-a-day rule is stored as it is (its job failed)."""
    job = add_job(uow, tenant_id)
    day = dt.date(2026, 3, 2)
    both = [Assignment(employee="e1", date=day, shift=s) for s in ("L", "E")]
    with uow() as w:
        w.assignments.add_all(job.id, [*both, both[0]])  # and an exact duplicate
        w.commit()
    with uow() as w:
        page = w.assignments.page(job.id, date=None, employee=None, after=None, limit=10)
    assert page == sorted(both, key=lambda a: a.shift)


def test_assignments_go_with_their_job(uow, engine, tenant_id):
    job = add_job(uow, tenant_id)
    with uow() as w:
        w.assignments.add_all(job.id, r.roster(days=2, employees=2))
        w.commit()
    with engine.begin() as conn:
        conn.execute(sa.delete(jobs_table).where(jobs_table.c.id == job.id))
    with uow() as w:
        assert w.assignments.page(job.id, date=None, employee=None, after=None, limit=10) == []
