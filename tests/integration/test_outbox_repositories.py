"""The outbox, idempotency and cancellation methods of the SQL repositories, on PostgreSQL and
SQLite alike, each as the in-memory reference (tests/fakes.py) behaves."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import msgspec
import pytest
import sqlalchemy as sa

from domain.adapters.db import migrate, sql_uow_factory
from domain.adapters.db.engine import make_engine
from domain.jobs import JobStatus
from domain.outbox import IdempotencyRecord, OutboxMessage
from domain.ports import UnitOfWorkFactory
from domain.settings import Settings
from tests.integration import records as r

pytestmark = pytest.mark.integration

T0 = r.T0
MINUTE = dt.timedelta(minutes=1)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'rota.db'}"
    migrate.upgrade(url)
    engine = make_engine(Settings(), url=url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def uow(request: pytest.FixtureRequest) -> UnitOfWorkFactory:
    name = "db_engine" if request.param == "postgresql" else "sqlite_engine"
    return sql_uow_factory(request.getfixturevalue(name))


@pytest.fixture
def tenant_id(uow: UnitOfWorkFactory) -> uuid.UUID:
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


def add_message(uow: UnitOfWorkFactory, job_id: uuid.UUID, available_at: dt.datetime, **fields):
    message = msgspec.structs.replace(
        OutboxMessage.solve_job(job_id, "req-1", available_at, available_at), **fields
    )
    with uow() as w:
        w.outbox.add(message)
        w.commit()
    return message


def claimed_ids(uow: UnitOfWorkFactory, now: dt.datetime) -> set[uuid.UUID]:
    with uow() as w:
        return {m.id for m in w.outbox.claim(now, 10_000)}


def test_a_message_round_trips_and_is_claimed_only_when_due_and_unsent(uow, tenant_id):
    job = add_job(uow, tenant_id)
    # Far in the future, so messages other tests leave in this database are all due earlier.
    base = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
    due = add_message(uow, job.id, base)
    later = add_message(uow, job.id, base + MINUTE)
    with uow() as w:
        [claimed] = [m for m in w.outbox.claim(base, 10_000) if m.job_id == job.id]
    assert claimed == due
    assert claimed.correlation_id == "req-1"

    with uow() as w:
        assert w.outbox.mark_sent(due.id, base)
        assert not w.outbox.mark_sent(due.id, base)  # once only
        w.commit()
    assert due.id not in claimed_ids(uow, base + MINUTE)
    assert later.id in claimed_ids(uow, base + MINUTE)


def test_many_messages_are_marked_sent_in_one_statement_and_only_once(uow, tenant_id):
    job = add_job(uow, tenant_id)
    base = dt.datetime(2200, 2, 1, tzinfo=dt.UTC)
    messages = [add_message(uow, job.id, base) for _ in range(3)]
    untouched = add_message(uow, job.id, base)
    with uow() as w:
        assert w.outbox.mark_sent(messages[0].id, base)
        # The one marked already is not counted again; an empty batch is no statement.
        assert w.outbox.mark_sent_many([m.id for m in messages], base) == 2
        assert w.outbox.mark_sent_many([], base) == 0
        w.commit()
    pending = claimed_ids(uow, base + MINUTE)
    assert not pending & {m.id for m in messages}
    assert untouched.id in pending


def test_a_failed_publish_is_counted_and_held_back(uow, tenant_id):
    job = add_job(uow, tenant_id)
    base = dt.datetime(2201, 1, 1, tzinfo=dt.UTC)
    message = add_message(uow, job.id, base)
    with uow() as w:
        w.outbox.mark_failed(message.id, error="x" * 2000, retry_at=base + MINUTE)
        w.commit()
    assert message.id not in claimed_ids(uow, base)
    with uow() as w:
        [again] = [m for m in w.outbox.claim(base + MINUTE, 10_000) if m.id == message.id]
    assert again.attempts == 1
    assert again.last_error is not None
    assert len(again.last_error) == 500


def test_cancel_queued_and_request_cancel_are_guarded_by_status(uow, tenant_id):
    queued = add_job(uow, tenant_id)
    running = add_job(uow, tenant_id, status=JobStatus.RUNNING, attempts=1, started_at=T0)
    done = add_job(uow, tenant_id, status=JobStatus.SUCCEEDED, finished_at=T0)
    with uow() as w:
        assert w.jobs.cancel_queued(queued.id, T0)
        assert not w.jobs.cancel_queued(running.id, T0)
        assert w.jobs.request_cancel(running.id, T0)
        assert w.jobs.request_cancel(running.id, T0 + MINUTE)  # again: still running
        assert not w.jobs.request_cancel(done.id, T0)
        assert not w.jobs.cancel_requested(done.id)
        w.commit()
    with uow(read_only=True) as w:
        cancelled = w.jobs.get(queued.id)
        assert cancelled is not None
        assert cancelled.status is JobStatus.CANCELLED
        assert cancelled.finished_at == T0
        assert w.jobs.cancel_requested(running.id)
        stopping = w.jobs.get(running.id)
        assert stopping is not None
        assert stopping.cancel_requested_at == T0  # the first request is kept
        assert stopping.status is JobStatus.RUNNING


def test_an_idempotency_key_is_claimed_once_per_tenant_until_it_expires(uow, tenant_id):
    first = add_job(uow, tenant_id)
    second = add_job(uow, tenant_id)
    key = f"order-{uuid.uuid4().hex}"

    def record(job_id: uuid.UUID, at: dt.datetime) -> IdempotencyRecord:
        return IdempotencyRecord(
            tenant_id=tenant_id, key=key, request_hash="h" * 64, job_id=job_id, created_at=at
        )

    with uow() as w:
        assert w.idempotency.claim(record(first.id, T0), expired_before=T0 - MINUTE)
        assert not w.idempotency.claim(record(second.id, T0), expired_before=T0 - MINUTE)
        w.commit()
    with uow() as w:
        assert w.idempotency.get(tenant_id, key) == record(first.id, T0)
        # Past its time to live, the key is free again even before retention purges it.
        assert w.idempotency.claim(record(second.id, T0 + MINUTE), expired_before=T0 + MINUTE)
        w.commit()
    with uow() as w:
        held = w.idempotency.get(tenant_id, key)
        assert held is not None
        assert held.job_id == second.id


def test_purging_a_finished_job_takes_its_roster_messages_and_keys(uow, tenant_id):
    old_finish = dt.datetime(1990, 1, 1, tzinfo=dt.UTC)
    old = add_job(uow, tenant_id, status=JobStatus.SUCCEEDED, finished_at=old_finish)
    kept = add_job(uow, tenant_id, status=JobStatus.RUNNING, started_at=old_finish)
    add_message(uow, old.id, old_finish)
    with uow() as w:
        w.assignments.add_all(old.id, r.roster(days=2, employees=2))
        w.idempotency.claim(
            IdempotencyRecord(
                tenant_id=tenant_id,
                key=uuid.uuid4().hex,
                request_hash="h",
                job_id=old.id,
                created_at=T0,
            ),
            expired_before=T0,
        )
        w.commit()
    with uow() as w:
        assert w.jobs.purge_finished(old_finish + MINUTE, 1000) == 1
        w.commit()
    with uow() as w:
        assert w.jobs.get(old.id) is None
        assert w.jobs.get(kept.id) is not None
        assert w.assignments.page(old.id, date=None, employee=None, after=None, limit=10) == []
        assert not [m for m in w.outbox.claim(T0 + 1000 * MINUTE, 10_000) if m.job_id == old.id]


def test_stuck_finds_old_open_jobs_without_a_pending_or_recent_message(uow, tenant_id):
    long_ago = dt.datetime(1991, 1, 1, tzinfo=dt.UTC)
    before = long_ago + 10 * MINUTE
    lost = add_job(uow, tenant_id, created_at=long_ago)
    add_message(uow, lost.id, long_ago, sent_at=long_ago)
    waiting = add_job(uow, tenant_id, created_at=long_ago)
    add_message(uow, waiting.id, long_ago)  # never sent: the relay is still trying
    dead = add_job(uow, tenant_id, status=JobStatus.RUNNING, attempts=1, started_at=long_ago)
    resent = add_job(uow, tenant_id, status=JobStatus.RUNNING, attempts=1, started_at=long_ago)
    add_message(uow, resent.id, before + MINUTE, sent_at=before + MINUTE)
    with uow(read_only=True) as w:
        queued = {j.id for j in w.jobs.stuck(JobStatus.QUEUED, before, 10_000)}
        running = {j.id for j in w.jobs.stuck(JobStatus.RUNNING, before, 10_000)}
    assert lost.id in queued
    assert waiting.id not in queued
    assert dead.id in running
    assert resent.id not in running
