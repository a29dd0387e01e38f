"""Idempotency-Key on submit_job, on in-memory ports."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import msgspec
import pytest

from domain.errors import Conflict, InvalidRequest
from domain.problem import problem_decoder
from domain.services.jobs import SubmitJob, submit_job
from domain.tenancy import Principal, Role
from tests.fakes import FakeQueue, FixedClock, Store, fake_uow_factory

SAMPLE = Path(__file__).parents[2] / "domain" / "samples" / "sample.json"
PROBLEM = problem_decoder.decode(SAMPLE.read_bytes())
TTL = dt.timedelta(hours=24)


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def who() -> Principal:
    return Principal(tenant_id=uuid.uuid4(), role=Role.SERVICE)


def submit(store, clock, who, key, problem=PROBLEM, queue=None):
    return submit_job(
        SubmitJob(principal=who, problem=problem, correlation_id="req-1", idempotency_key=key),
        fake_uow_factory(store),
        queue or FakeQueue(),
        clock,
        max_time_limit=30.0,
        idempotency_ttl=TTL,
    )


def test_the_same_key_and_body_return_the_first_job_without_a_second_one(store, clock, who):
    queue = FakeQueue()
    first = submit(store, clock, who, "order-42", queue=queue)
    again = submit(store, clock, who, "order-42", queue=queue)
    assert first.created
    assert not again.created
    assert again.job.id == first.job.id
    assert len(store.jobs) == 1
    assert len(store.outbox) == 1
    assert queue.sent == [(first.job.id, "req-1")]  # published once


def test_the_same_body_with_its_keys_in_another_order_is_the_same_request(store, clock, who):
    first = submit(store, clock, who, "k-1")
    shuffled = msgspec.json.decode(msgspec.json.encode(PROBLEM))
    shuffled = dict(reversed(list(shuffled.items())))
    again = submit(store, clock, who, "k-1", problem_decoder.decode(msgspec.json.encode(shuffled)))
    assert again.job.id == first.job.id


def test_the_same_key_with_another_body_is_refused(store, clock, who):
    submit(store, clock, who, "order-42")
    other = msgspec.structs.replace(PROBLEM, name="another ward")
    with pytest.raises(Conflict) as caught:
        submit(store, clock, who, "order-42", other)
    assert caught.value.code == "IDEMPOTENCY_KEY_REUSED"
    assert len(store.jobs) == 1


def test_keys_belong_to_a_tenant(store, clock, who):
    mine = submit(store, clock, who, "order-42")
    theirs = submit(store, clock, Principal(tenant_id=uuid.uuid4(), role=Role.SERVICE), "order-42")
    assert theirs.created
    assert theirs.job.id != mine.job.id


def test_a_key_past_its_time_to_live_makes_a_new_job(store, clock, who):
    first = submit(store, clock, who, "order-42")
    clock.now += TTL + dt.timedelta(seconds=1)
    later = submit(store, clock, who, "order-42")
    assert later.created
    assert later.job.id != first.job.id


def test_without_a_key_every_request_makes_a_job(store, clock, who):
    assert submit(store, clock, who, None).job.id != submit(store, clock, who, None).job.id
    assert store.idempotency == {}


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve", "line\nbreak"])
def test_a_malformed_key_is_a_clear_error(store, clock, who, key):
    with pytest.raises(InvalidRequest) as caught:
        submit(store, clock, who, key)
    assert caught.value.code == "INVALID_IDEMPOTENCY_KEY"
    assert store.jobs == {}
