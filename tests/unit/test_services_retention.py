"""Retention and the stuck-job sweep (beat tasks), on in-memory ports."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import msgspec
import pytest

from domain.jobs import ErrorCode, Job, JobStatus
from domain.outbox import IdempotencyRecord, OutboxMessage
from domain.problem import Assignment, problem_decoder
from domain.services.recovery import StuckAfter, requeue_stuck_jobs
from domain.services.retention import RetentionPolicy, purge_expired
from domain.services.solving import RunSettings, run_job
from tests.fakes import FakeCache, FixedClock, Store, fake_uow_factory

SAMPLE = Path(__file__).parents[2] / "domain" / "samples" / "sample.json"
PROBLEM = problem_decoder.decode(SAMPLE.read_bytes())
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TENANT = uuid.uuid4()
AFTER = StuckAfter(running=dt.timedelta(minutes=5), queued=dt.timedelta(minutes=10))


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


def add_job(store: Store, status: JobStatus, age: dt.timedelta, **fields) -> Job:
    when = NOW - age
    job = Job(
        id=uuid.uuid4(),
        tenant_id=TENANT,
        status=status,
        created_at=when,
        correlation_id="req-1",
        cache_key="k",
        time_limit_seconds=10.0,
        finished_at=when if status.finished else None,
        started_at=when if status is not JobStatus.QUEUED else None,
        **fields,
    )
    store.jobs[job.id] = job
    store.problems[job.id] = PROBLEM
    return job


def add_message(store: Store, job: Job, age: dt.timedelta, *, sent: bool) -> OutboxMessage:
    when = NOW - age
    message = OutboxMessage.solve_job(job.id, "req-1", when, when)
    if sent:
        message = msgspec.structs.replace(message, sent_at=when)
    store.outbox[message.id] = message
    return message


# --- retention --------------------------------------------------------------------------------


def test_finished_jobs_past_retention_go_with_their_roster_messages_and_keys(store, clock):
    old = add_job(store, JobStatus.SUCCEEDED, dt.timedelta(days=31))
    store.assignments[old.id] = [Assignment(employee="A", date=dt.date(2026, 1, 1), shift="D")]
    add_message(store, old, dt.timedelta(days=31), sent=True)
    store.idempotency[(TENANT, "k")] = IdempotencyRecord(
        tenant_id=TENANT, key="k", request_hash="h", job_id=old.id, created_at=NOW
    )
    recent = add_job(store, JobStatus.FAILED, dt.timedelta(days=29))
    open_job = add_job(store, JobStatus.RUNNING, dt.timedelta(days=60))

    purged = purge_expired(fake_uow_factory(store), clock, RetentionPolicy(job_days=30), batch=2)

    assert purged.jobs == 1
    assert set(store.jobs) == {recent.id, open_job.id}
    assert old.id not in store.assignments
    assert old.id not in store.problems
    assert not any(m.job_id == old.id for m in store.outbox.values())
    assert store.idempotency == {}


def test_more_expired_jobs_than_one_batch_are_all_purged(store, clock):
    for _ in range(7):
        add_job(store, JobStatus.CANCELLED, dt.timedelta(days=40))
    purged = purge_expired(fake_uow_factory(store), clock, RetentionPolicy(job_days=30), batch=3)
    assert purged.jobs == 7
    assert store.jobs == {}


def test_idempotency_keys_expire_after_their_time_to_live(store, clock):
    job = add_job(store, JobStatus.QUEUED, dt.timedelta(hours=30))
    for key, age in (("old", dt.timedelta(hours=25)), ("new", dt.timedelta(hours=23))):
        store.idempotency[(TENANT, key)] = IdempotencyRecord(
            tenant_id=TENANT, key=key, request_hash="h", job_id=job.id, created_at=NOW - age
        )
    purged = purge_expired(fake_uow_factory(store), clock, RetentionPolicy(idempotency_hours=24))
    assert purged.idempotency_keys == 1
    assert set(store.idempotency) == {(TENANT, "new")}
    assert job.id in store.jobs


def test_sent_messages_are_kept_a_day_and_unsent_ones_until_sent(store, clock):
    job = add_job(store, JobStatus.RUNNING, dt.timedelta(days=3))
    old_sent = add_message(store, job, dt.timedelta(days=2), sent=True)
    old_unsent = add_message(store, job, dt.timedelta(days=2), sent=False)
    fresh = add_message(store, job, dt.timedelta(hours=1), sent=True)
    purge_expired(fake_uow_factory(store), clock, RetentionPolicy())
    assert set(store.outbox) == {old_unsent.id, fresh.id}
    assert old_sent.id not in store.outbox


# --- stuck jobs -------------------------------------------------------------------------------


def messages_of(store: Store, job: Job) -> list[OutboxMessage]:
    return [m for m in store.outbox.values() if m.job_id == job.id]


def test_a_job_running_past_the_hard_limit_gets_one_new_message(store, clock):
    stuck = add_job(store, JobStatus.RUNNING, dt.timedelta(minutes=6), attempts=1)
    add_message(store, stuck, dt.timedelta(minutes=6), sent=True)
    healthy = add_job(store, JobStatus.RUNNING, dt.timedelta(minutes=4), attempts=1)

    assert requeue_stuck_jobs(fake_uow_factory(store), clock, AFTER) == 1
    assert requeue_stuck_jobs(fake_uow_factory(store), clock, AFTER) == 0  # once per period
    assert len(messages_of(store, stuck)) == 2
    assert messages_of(store, healthy) == []
    new = max(messages_of(store, stuck), key=lambda m: m.created_at)
    assert new.sent_at is None
    assert new.payload == {"correlation_id": "req-1"}


def test_a_queued_job_whose_message_was_lost_is_sent_again(store, clock):
    lost = add_job(store, JobStatus.QUEUED, dt.timedelta(minutes=11))
    add_message(store, lost, dt.timedelta(minutes=11), sent=True)
    assert requeue_stuck_jobs(fake_uow_factory(store), clock, AFTER) == 1
    assert len(messages_of(store, lost)) == 2


def test_a_queued_job_still_waiting_for_the_relay_is_left_alone(store, clock):
    waiting = add_job(store, JobStatus.QUEUED, dt.timedelta(hours=2))
    add_message(store, waiting, dt.timedelta(hours=2), sent=False)  # broker down for hours
    young = add_job(store, JobStatus.QUEUED, dt.timedelta(minutes=2))
    add_message(store, young, dt.timedelta(minutes=2), sent=True)
    assert requeue_stuck_jobs(fake_uow_factory(store), clock, AFTER) == 0


def test_a_job_that_keeps_getting_stuck_ends_worker_lost(store, clock):
    job = add_job(store, JobStatus.RUNNING, dt.timedelta(minutes=6), attempts=3)
    assert requeue_stuck_jobs(fake_uow_factory(store), clock, AFTER) == 1

    def never_called(*_, **__):
        raise AssertionError("a job out of attempts must not be solved")

    status = run_job(
        job.id, fake_uow_factory(store), FakeCache(), never_called, clock, RunSettings()
    )
    assert status is JobStatus.FAILED
    assert store.jobs[job.id].error_code == ErrorCode.WORKER_LOST
