"""The reliable pipeline under concurrency, on real PostgreSQL and Redis (Celery's producer):
relays racing over one outbox, identical idempotent requests at once, a serialization failure
retried, a broker that is down at submit time."""

from __future__ import annotations

import collections
import datetime as dt
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import sqlalchemy as sa

from domain.adapters.celery_config import SOLVE_QUEUE
from domain.adapters.celery_queue import CeleryJobQueue, make_producer_app
from domain.adapters.db import SqlUnitOfWork, sql_uow_factory
from domain.adapters.db.tables import jobs as jobs_table
from domain.adapters.db.tables import outbox as outbox_table
from domain.jobs import JobProgress, JobStatus
from domain.outbox import OutboxMessage
from domain.services.jobs import SubmitJob, submit_job
from domain.services.outbox import relay_outbox
from domain.services.retry import retry_conflicts
from domain.settings import Settings
from domain.tenancy import Principal, Role
from tests.harness import free_port
from tests.integration import records as r

pytestmark = pytest.mark.integration

# Not a timing assertion: how long a thread may wait for the other before the test is hung.
RENDEZVOUS_SECONDS = 30


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def broker(redis_url: str) -> Iterator[redis.Redis]:
    """The test's Redis database as Celery's broker, with an empty solve queue before and
    after (nothing consumes it here)."""
    client = redis.Redis.from_url(redis_url)
    client.delete(SOLVE_QUEUE)
    yield client
    client.delete(SOLVE_QUEUE)
    client.close()


@pytest.fixture
def queue(redis_url: str) -> Iterator[CeleryJobQueue]:
    queue = CeleryJobQueue(make_producer_app(Settings(redis_url=redis_url)))
    yield queue
    queue.close()


def published(broker: redis.Redis) -> collections.Counter[uuid.UUID]:
    """How many solve_job messages wait in the broker for each job (task id = job id)."""
    bodies = broker.lrange(SOLVE_QUEUE, 0, -1)
    return collections.Counter(uuid.UUID(json.loads(b)["headers"]["id"]) for b in bodies)


def new_tenant(uow) -> uuid.UUID:
    tenant = r.tenant()
    with uow() as w:
        w.tenants.add(tenant)
        w.commit()
    return tenant.id


def test_two_relays_racing_over_the_same_rows_publish_each_exactly_once(db_engine, broker, queue):
    uow = sql_uow_factory(db_engine)
    tenant_id = new_tenant(uow)
    due = utc_now() - dt.timedelta(minutes=1)
    job_ids = []
    with uow() as w:
        for _ in range(30):
            job = r.job(tenant_id)
            w.jobs.add(job, r.problem())
            w.outbox.add(OutboxMessage.solve_job(job.id, "req-1", due, due))
            job_ids.append(job.id)
        w.commit()

    # Each relay's first publish waits for the other's: both hold a claimed batch at the same
    # moment. Without SKIP LOCKED the second claim would wait for the first relay's row locks
    # and never reach the rendezvous.
    rendezvous = threading.Barrier(2, timeout=RENDEZVOUS_SECONDS)

    class MeetFirst:
        def __init__(self) -> None:
            self.met = False

        def enqueue_solve(self, job_id: uuid.UUID, correlation_id: str) -> None:
            if not self.met:
                self.met = True
                rendezvous.wait()
            queue.enqueue_solve(job_id, correlation_id)

    with ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(relay_outbox, uow, MeetFirst(), utc_now, batch=10) for _ in range(2)]
        counts = [run.result() for run in runs]

    assert all(count > 0 for count in counts)
    sent = published(broker)
    assert {job_id: sent[job_id] for job_id in job_ids} == dict.fromkeys(job_ids, 1)
    assert max(sent.values()) == 1  # nothing else was sent twice either
    with uow(read_only=True) as w:
        assert not [m for m in w.outbox.claim(utc_now(), 10_000) if m.job_id in job_ids]


class RendezvousBeforeClaim(SqlUnitOfWork):
    """A unit of work whose idempotency claim first waits until every request is ready to
    claim, each with its own job inserted and its transaction open."""

    def __init__(self, engine: sa.Engine, barrier: threading.Barrier, **kwargs) -> None:
        super().__init__(engine, **kwargs)
        self._barrier = barrier

    def __enter__(self):
        super().__enter__()
        claim = self.idempotency.claim

        def claim_together(record, expired_before):
            self._barrier.wait()
            return claim(record, expired_before)

        self.idempotency.claim = claim_together  # type: ignore[method-assign]
        return self


def test_identical_requests_with_one_key_at_the_same_time_make_one_job(db_engine, broker, queue):
    tenant_id = new_tenant(sql_uow_factory(db_engine))
    who = Principal(tenant_id=tenant_id, role=Role.SERVICE)
    requests = 4
    barrier = threading.Barrier(requests, timeout=RENDEZVOUS_SECONDS)
    problem = r.problem()

    def factory(*, read_only: bool = False) -> SqlUnitOfWork:
        if read_only:
            return SqlUnitOfWork(db_engine, read_only=True)
        return RendezvousBeforeClaim(db_engine, barrier)

    def submit(_: int):
        return submit_job(
            SubmitJob(principal=who, problem=problem, correlation_id="req", idempotency_key="k"),
            factory,
            queue,
            utc_now,
            max_time_limit=30.0,
        )

    with ThreadPoolExecutor(requests) as pool:
        submissions = list(pool.map(submit, range(requests)))

    assert len({s.job.id for s in submissions}) == 1
    assert sum(s.created for s in submissions) == 1
    job_id = submissions[0].job.id
    with db_engine.connect() as conn:
        stored = conn.execute(
            sa.select(jobs_table.c.id).where(jobs_table.c.tenant_id == tenant_id)
        ).all()
        messages = conn.execute(
            sa.select(outbox_table.c.id).where(outbox_table.c.job_id == job_id)
        ).all()
    assert [row.id for row in stored] == [job_id]
    assert len(messages) == 1
    assert published(broker)[job_id] == 1


def test_a_serialization_failure_is_retried_in_a_new_transaction(db_engine):
    uow = sql_uow_factory(db_engine)
    job = r.job(new_tenant(uow), status=JobStatus.RUNNING, attempts=1, started_at=r.T0)
    with uow() as w:
        w.jobs.add(job, r.problem())
        w.commit()
    attempts: list[int] = []

    def concurrent_cancel() -> None:
        with uow() as other:
            assert other.jobs.request_cancel(job.id, utc_now())
            other.commit()

    def record_progress(meanwhile: Callable[[], None] | None) -> bool:
        attempts.append(len(attempts) + 1)
        with uow() as w:
            # A snapshot taken now, then a row changed by a transaction that commits after it:
            # PostgreSQL refuses this transaction's update (SQLSTATE 40001).
            w.jobs._conn.execute(sa.text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"))
            assert w.jobs.get(job.id) is not None
            if meanwhile is not None and len(attempts) == 1:
                meanwhile()
            changed = w.jobs.record_progress(job.id, 1, JobProgress(objective=42))
            w.commit()
        return changed

    assert retry_conflicts(lambda: record_progress(concurrent_cancel), sleep=lambda _: None)
    assert attempts == [1, 2]
    with uow(read_only=True) as w:
        stored = w.jobs.get(job.id)
    assert stored is not None
    assert stored.progress == JobProgress(objective=42)
    assert stored.cancel_requested_at is not None  # the concurrent change survived too


def test_a_job_submitted_while_the_broker_is_down_is_published_once_by_the_relay(
    db_engine, broker, queue
):
    uow = sql_uow_factory(db_engine)
    who = Principal(tenant_id=new_tenant(uow), role=Role.SERVICE)
    # Nothing listens on this port: every publish is refused.
    down = CeleryJobQueue(
        make_producer_app(Settings(redis_url=f"redis://127.0.0.1:{free_port()}/0"))
    )
    try:
        submission = submit_job(
            SubmitJob(principal=who, problem=r.problem(), correlation_id="req-down"),
            uow,
            down,
            utc_now,
            max_time_limit=30.0,
        )
    finally:
        down.close()
    job = submission.job
    with uow(read_only=True) as w:
        assert w.jobs.get(job.id).status is JobStatus.QUEUED
    assert published(broker)[job.id] == 0

    relay_outbox(uow, queue, utc_now)
    relay_outbox(uow, queue, utc_now)
    assert published(broker)[job.id] == 1
