"""The transactional outbox on in-memory ports: submit_job's fast path and the relay."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import pytest

from domain.jobs import JobStatus
from domain.outbox import SOLVE_JOB, OutboxMessage
from domain.problem import problem_decoder
from domain.services.jobs import FAST_PATH_SECONDS, SubmitJob, submit_job
from domain.services.outbox import relay_outbox
from domain.tenancy import Principal, Role
from tests.fakes import FakeQueue, FakeUnitOfWork, FixedClock, Store, fake_uow_factory

SAMPLE = Path(__file__).parents[2] / "domain" / "samples" / "sample.json"
PROBLEM = problem_decoder.decode(SAMPLE.read_bytes())


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def submit(store: Store, clock: FixedClock, queue: FakeQueue, correlation_id: str = "req-1"):
    who = Principal(tenant_id=uuid.uuid4(), role=Role.SERVICE)
    return submit_job(
        SubmitJob(principal=who, problem=PROBLEM, correlation_id=correlation_id),
        fake_uow_factory(store),
        queue,
        clock,
        max_time_limit=30.0,
    ).job


def messages_of(store: Store, job_id: uuid.UUID) -> list[OutboxMessage]:
    return [m for m in store.outbox.values() if m.job_id == job_id]


def test_submit_writes_the_job_and_its_outbox_message_in_one_transaction(store, clock):
    commits: list[Store] = []

    class Recording(FakeUnitOfWork):
        def commit(self) -> None:
            commits.append(self._work)
            super().commit()

    queue = FakeQueue()
    job = submit_job(
        SubmitJob(
            principal=Principal(tenant_id=uuid.uuid4(), role=Role.SERVICE),
            problem=PROBLEM,
            correlation_id="req-7",
        ),
        lambda read_only=False: Recording(store, read_only=read_only),
        queue,
        clock,
        max_time_limit=30.0,
    ).job

    # The first commit holds both rows: there is no instant where one exists without the other.
    first = commits[0]
    assert job.id in first.jobs
    [message] = [m for m in first.outbox.values() if m.job_id == job.id]
    assert (message.kind, message.payload) == (SOLVE_JOB, {"correlation_id": "req-7"})
    assert message.sent_at is None


def test_a_failed_commit_leaves_neither_the_job_nor_its_message(store, clock):
    class FailingCommit(FakeUnitOfWork):
        def commit(self) -> None:
            raise ConnectionError("lost the database at COMMIT")

    with pytest.raises(ConnectionError):
        submit_job(
            SubmitJob(
                principal=Principal(tenant_id=uuid.uuid4(), role=Role.SERVICE),
                problem=PROBLEM,
                correlation_id="req-1",
            ),
            lambda read_only=False: FailingCommit(store, read_only=read_only),
            FakeQueue(),
            clock,
            max_time_limit=30.0,
        )
    assert store.jobs == {}
    assert store.outbox == {}


def test_the_fast_path_publishes_after_the_commit_and_marks_the_message_sent(store, clock):
    queue = FakeQueue()
    job = submit(store, clock, queue)
    assert queue.sent == [(job.id, "req-1")]
    [message] = messages_of(store, job.id)
    assert message.sent_at is not None

    clock.now += dt.timedelta(hours=1)
    assert relay_outbox(fake_uow_factory(store), queue, clock) == 0
    assert queue.sent == [(job.id, "req-1")]


def test_broker_down_at_submit_keeps_the_job_queued_with_its_message_unsent(store, clock):
    job = submit(store, clock, FakeQueue(broken=True))
    assert store.jobs[job.id].status is JobStatus.QUEUED
    [message] = messages_of(store, job.id)
    assert message.sent_at is None
    assert message.attempts == 1
    assert "broker down" in (message.last_error or "")
    # Left for the relay at once, not after the fast-path delay.
    assert message.available_at <= clock.now


def test_the_relay_publishes_a_message_the_broker_refused_exactly_once(store, clock):
    job = submit(store, clock, FakeQueue(broken=True), correlation_id="req-9")
    queue = FakeQueue()
    uow_factory = fake_uow_factory(store)

    assert relay_outbox(uow_factory, queue, clock) == 1
    assert relay_outbox(uow_factory, queue, clock) == 0
    assert queue.sent == [(job.id, "req-9")]
    [message] = messages_of(store, job.id)
    assert message.sent_at is not None


def test_the_relay_leaves_a_new_message_to_the_fast_path_for_a_while(store, clock):
    # The API died between its commit and its publish: the message is unsent, not failed.
    job_id = uuid.uuid4()
    message = OutboxMessage.solve_job(
        job_id, "req-1", clock.now, clock.now + dt.timedelta(seconds=FAST_PATH_SECONDS)
    )
    store.outbox[message.id] = message
    queue = FakeQueue()

    assert relay_outbox(fake_uow_factory(store), queue, clock) == 0
    clock.now += dt.timedelta(seconds=FAST_PATH_SECONDS)
    assert relay_outbox(fake_uow_factory(store), queue, clock) == 1
    assert queue.sent == [(job_id, "req-1")]


def test_a_broker_failure_stops_the_relay_and_backs_the_message_off(store, clock):
    jobs = [submit(store, clock, FakeQueue(broken=True)) for _ in range(3)]
    broken = FakeQueue(broken=True)
    assert relay_outbox(fake_uow_factory(store), broken, clock) == 0

    attempts = sorted(m.attempts for m in store.outbox.values())
    # One more attempt for the first message only: the others were not tried against a broker
    # that had just refused.
    assert attempts == [1, 1, 2]
    retried = next(m for m in store.outbox.values() if m.attempts == 2)
    assert retried.available_at > clock.now

    # Once the broker is back, everything goes out, the backed-off message when it is due.
    queue = FakeQueue()
    relay_outbox(fake_uow_factory(store), queue, clock)
    clock.now += dt.timedelta(minutes=5)
    relay_outbox(fake_uow_factory(store), queue, clock)
    assert sorted(job_id for job_id, _ in queue.sent) == sorted(j.id for j in jobs)


def test_the_relay_works_through_more_messages_than_one_batch(store, clock):
    jobs = [submit(store, clock, FakeQueue(broken=True)) for _ in range(7)]
    queue = FakeQueue()
    assert relay_outbox(fake_uow_factory(store), queue, clock, batch=3) == 7
    assert sorted(j for j, _ in queue.sent) == sorted(j.id for j in jobs)


def test_a_message_of_an_unknown_kind_is_held_back_and_the_rest_go_out(store, clock):
    odd = OutboxMessage(
        id=uuid.uuid4(),
        kind="from_a_newer_version",
        job_id=None,
        payload={},
        created_at=clock.now,
        available_at=clock.now,
    )
    store.outbox[odd.id] = odd
    job = submit(store, clock, FakeQueue(broken=True))
    queue = FakeQueue()

    assert relay_outbox(fake_uow_factory(store), queue, clock) == 1
    assert queue.sent == [(job.id, "req-1")]
    held = store.outbox[odd.id]
    assert held.sent_at is None
    assert held.attempts == 1
    assert held.available_at > clock.now
