"""Deliveries are recorded with a job's final state, once per event, and sent with retries,
on in-memory ports and a scripted sender."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import random
import uuid

import msgspec
import pytest

from domain.jobs import JobStatus
from domain.services import webhooks as service
from domain.services.cancel import cancel_job
from domain.services.solving import RunSettings, run_job
from domain.services.webhooks import DeliverySettings, deliver, deliver_due
from domain.tenancy import Principal, Role
from domain.webhooks import DeliveryStatus, SendResult, Webhook, WebhookEvent, new_secret
from tests.fakes import FakeAssignments, FakeCache, FakeQueue, FixedClock, Store, fake_uow_factory
from tests.unit.test_services_solving import ScriptedSolver, queued_job, solution

SETTINGS = DeliverySettings(max_attempts=3, lease=dt.timedelta(minutes=2))


class ScriptedSender:
    """Answers each send with the next result; remembers what it was asked to send."""

    def __init__(self, *results: SendResult | Exception) -> None:
        self.results = list(results)
        self.sent: list[tuple[str, dict[str, str], bytes]] = []

    def send(self, url, headers, body) -> SendResult:
        self.sent.append((url, dict(headers), body))
        result = self.results.pop(0) if len(self.results) > 1 else self.results[0]
        if isinstance(result, Exception):
            raise result
        return result


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def subscribe(store, tenant_id, *events: WebhookEvent, url="https://hooks.example.com/") -> Webhook:
    webhook = Webhook(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        url=url,
        events=list(events or WebhookEvent),
        secret=new_secret(),
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    store.webhooks[webhook.id] = webhook
    return webhook


def run(store, job, solver, queue=None, **settings):
    return run_job(
        job.id,
        fake_uow_factory(store),
        FakeCache(),
        solver,
        FixedClock(),
        RunSettings(**settings),
        queue,
    )


# --- recorded with the job's final state ------------------------------------------------------


def test_a_succeeded_job_records_one_delivery_per_subscribed_webhook_and_publishes_it(store):
    job = queued_job(store, use_cache=False)
    all_events = subscribe(store, job.tenant_id)
    failures_only = subscribe(store, job.tenant_id, WebhookEvent.JOB_FAILED)
    subscribe(store, uuid.uuid4())  # another tenant's
    queue = FakeQueue()

    assert run(store, job, ScriptedSolver(solution()), queue) == JobStatus.SUCCEEDED

    [delivery] = store.deliveries.values()
    assert (delivery.webhook_id, delivery.job_id) == (all_events.id, job.id)
    assert (delivery.event, delivery.status, delivery.attempts) == ("job.succeeded", "pending", 0)
    assert delivery.correlation_id == job.correlation_id
    body = msgspec.json.decode(delivery.payload)
    assert (body["type"], body["data"]["job_id"], body["data"]["objective"]) == (
        "job.succeeded",
        str(job.id),
        7,
    )
    assert queue.deliveries == [(delivery.id, job.correlation_id)]
    assert failures_only.id not in {d.webhook_id for d in store.deliveries.values()}


def test_a_job_run_twice_has_exactly_one_delivery_per_event(store):
    job = queued_job(store, use_cache=False)
    subscribe(store, job.tenant_id)
    queue = FakeQueue()

    run(store, job, ScriptedSolver(solution()), queue)
    again = run(store, job, ScriptedSolver(solution()), queue)  # a redelivered message

    assert again is None
    assert len(store.deliveries) == 1
    assert len(queue.deliveries) == 1


def test_a_run_that_loses_the_race_to_finish_records_nothing(store):
    job = queued_job(store, use_cache=False)
    subscribe(store, job.tenant_id)

    def other_run_finishes_first():
        # The same job's other run (a duplicate message) writes its final state meanwhile.
        run(store, job, ScriptedSolver(solution()), max_attempts=5)

    first = run(store, job, ScriptedSolver(solution(), during=other_run_finishes_first))

    assert first is None
    assert len(store.deliveries) == 1


def test_recording_the_same_final_state_twice_creates_one_delivery(store, clock):
    job = queued_job(store, status=JobStatus.SUCCEEDED)
    subscribe(store, job.tenant_id)

    for _ in range(2):
        with fake_uow_factory(store)() as uow:
            service.record_job_deliveries(uow, uow.jobs.get(job.id), clock())
            uow.commit()

    assert len(store.deliveries) == 1


@pytest.mark.parametrize(
    ("outcome", "event"),
    [
        (RuntimeError("solver crashed"), "job.failed"),
        (solution(status="infeasible", objective=None, assignments=[]), "job.failed"),
        (solution(stats={"outcome": "cancelled"}), "job.cancelled"),
    ],
)
def test_failed_and_cancelled_jobs_notify_their_event(store, outcome, event):
    job = queued_job(store, use_cache=False)
    subscribe(store, job.tenant_id)

    run(store, job, ScriptedSolver(outcome))

    assert [d.event for d in store.deliveries.values()] == [event]


def test_a_job_whose_worker_was_lost_too_often_notifies_its_failure(store):
    job = queued_job(store, attempts=3, status=JobStatus.RUNNING)
    subscribe(store, job.tenant_id)

    assert run(store, job, ScriptedSolver(solution()), max_attempts=3) == JobStatus.FAILED

    [delivery] = store.deliveries.values()
    assert msgspec.json.decode(delivery.payload)["data"]["error"]["code"] == "WORKER_LOST"


def test_cancelling_a_queued_job_records_its_cancelled_event(store, clock):
    job = queued_job(store)
    subscribe(store, job.tenant_id)
    principal = Principal(tenant_id=job.tenant_id, role=Role.SERVICE)

    cancel_job(principal, job.id, fake_uow_factory(store), clock)

    assert [d.event for d in store.deliveries.values()] == ["job.cancelled"]


def test_a_final_transaction_that_fails_leaves_no_delivery_behind(store, monkeypatch):
    job = queued_job(store, use_cache=False)
    subscribe(store, job.tenant_id)

    def broken(self, job_id, assignments):
        raise RuntimeError("disk full")

    monkeypatch.setattr(FakeAssignments, "add_all", broken)
    with pytest.raises(RuntimeError):
        run(store, job, ScriptedSolver(solution()))

    assert store.deliveries == {}
    assert store.jobs[job.id].status is JobStatus.RUNNING


# --- sent, with retries ---------------------------------------------------------------------


def recorded(store, clock):
    """A succeeded job with one webhook and its pending delivery."""
    job = queued_job(store, use_cache=False)
    webhook = subscribe(store, job.tenant_id)
    run(store, job, ScriptedSolver(solution()))
    [delivery] = store.deliveries.values()
    clock.now = delivery.next_attempt_at
    return webhook, delivery


def attempt(store, clock, delivery, sender, settings=SETTINGS):
    return deliver(delivery.id, fake_uow_factory(store), sender, clock, settings, random.Random(3))


def sweep(store, clock, sender, settings=SETTINGS):
    return deliver_due(fake_uow_factory(store), sender, clock, settings, rng=random.Random(3))


def test_a_delivery_is_sent_signed_and_marked_succeeded(store, clock):
    webhook, delivery = recorded(store, clock)
    sender = ScriptedSender(SendResult(status_code=204))

    assert attempt(store, clock, delivery, sender) == DeliveryStatus.SUCCEEDED

    [(url, headers, body)] = sender.sent
    assert (url, body) == (webhook.url, delivery.payload)
    assert headers["webhook-id"] == str(delivery.id)
    assert headers["X-Request-ID"] == delivery.correlation_id
    key = base64.b64decode(webhook.secret.removeprefix("whsec_"))
    signed = f"{delivery.id}.{headers['webhook-timestamp']}.".encode() + body
    digest = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{digest}"
    done = store.deliveries[delivery.id]
    assert (done.status, done.attempts, done.last_status_code) == ("succeeded", 1, 204)
    assert done.delivered_at is not None
    assert done.next_attempt_at is None
    assert attempt(store, clock, delivery, sender) is None  # nothing left to do
    assert len(sender.sent) == 1


def test_a_5xx_is_retried_after_the_backoff_and_then_delivered(store, clock):
    _, delivery = recorded(store, clock)
    sender = ScriptedSender(SendResult(status_code=503, error="HTTP 503: busy"))

    assert attempt(store, clock, delivery, sender) == DeliveryStatus.PENDING
    waiting = store.deliveries[delivery.id]
    assert (waiting.attempts, waiting.last_status_code, waiting.last_error) == (
        1,
        503,
        "HTTP 503: busy",
    )
    assert clock.now + dt.timedelta(seconds=2) <= waiting.next_attempt_at
    assert waiting.next_attempt_at <= clock.now + dt.timedelta(seconds=5)

    assert attempt(store, clock, delivery, sender) is None  # a duplicate message: no retry
    assert sweep(store, clock, sender) == 0  # not due yet
    clock.now = waiting.next_attempt_at
    sender.results = [SendResult(status_code=200)]
    assert sweep(store, clock, sender) == 1
    done = store.deliveries[delivery.id]
    assert (done.status, done.attempts, done.last_status_code) == ("succeeded", 2, 200)
    assert len(sender.sent) == 2


@pytest.mark.parametrize("code", [400, 401, 404, 410, 301, 302])
def test_a_4xx_or_a_redirect_fails_at_once(store, clock, code):
    _, delivery = recorded(store, clock)

    assert attempt(store, clock, delivery, ScriptedSender(SendResult(status_code=code))) == (
        DeliveryStatus.FAILED
    )
    assert store.deliveries[delivery.id].next_attempt_at is None


def test_retries_stop_after_the_last_attempt(store, clock):
    _, delivery = recorded(store, clock)
    sender = ScriptedSender(SendResult(error="timed out (ReadTimeout)"))

    outcomes = [attempt(store, clock, delivery, sender)]
    for _ in range(SETTINGS.max_attempts):  # one more than there is left to do
        if (due := store.deliveries[delivery.id].next_attempt_at) is not None:
            clock.now = due
        sweep(store, clock, sender)
        outcomes.append(store.deliveries[delivery.id].status)

    assert outcomes == ["pending", "pending", "failed", "failed"]
    final = store.deliveries[delivery.id]
    assert (final.attempts, final.last_error) == (3, "timed out (ReadTimeout)")
    assert len(sender.sent) == SETTINGS.max_attempts


def test_a_sender_that_raises_counts_as_a_failed_attempt_to_retry(store, clock):
    _, delivery = recorded(store, clock)

    status = attempt(store, clock, delivery, ScriptedSender(RuntimeError("bug")))

    assert status == DeliveryStatus.PENDING
    assert store.deliveries[delivery.id].last_error == "internal error while sending"


def test_an_attempt_lost_with_its_worker_is_made_again_once_its_lease_ends(store, clock):
    _, delivery = recorded(store, clock)
    with fake_uow_factory(store)() as uow:  # claimed, then the worker died mid-send
        uow.deliveries.claim(delivery.id, due_by=clock(), lease_until=clock() + SETTINGS.lease)
        uow.commit()
    sender = ScriptedSender(SendResult(status_code=200))
    uow_factory = fake_uow_factory(store)

    assert deliver_due(uow_factory, sender, clock, SETTINGS) == 0
    clock.now += SETTINGS.lease
    assert deliver_due(uow_factory, sender, clock, SETTINGS) == 1

    done = store.deliveries[delivery.id]
    assert (done.status, done.attempts) == ("succeeded", 2)


def test_the_sweep_sends_every_due_delivery_most_overdue_first_within_its_bound(store, clock):
    webhook = subscribe(store, uuid.uuid4())
    ids = []
    for minutes in (3, 1, 2):
        job = queued_job(store, tenant_id=webhook.tenant_id, use_cache=False)
        run(store, job, ScriptedSolver(solution()))
        [d] = [d for d in store.deliveries.values() if d.job_id == job.id]
        store.deliveries[d.id] = msgspec.structs.replace(
            d, next_attempt_at=clock.now - dt.timedelta(minutes=minutes)
        )
        ids.append(d.id)
    sender = ScriptedSender(SendResult(status_code=200))

    assert deliver_due(fake_uow_factory(store), sender, clock, SETTINGS, max_deliveries=2) == 2
    assert [h["webhook-id"] for _, h, _ in sender.sent] == [str(ids[0]), str(ids[2])]
    assert deliver_due(fake_uow_factory(store), sender, clock, SETTINGS) == 1
    assert deliver_due(fake_uow_factory(store), sender, clock, SETTINGS) == 0


def test_a_webhook_deleted_before_the_attempt_is_not_sent(store, clock):
    webhook, delivery = recorded(store, clock)
    principal = Principal(tenant_id=webhook.tenant_id, role=Role.SERVICE)
    service.delete_webhook(principal, webhook.id, fake_uow_factory(store))
    sender = ScriptedSender(SendResult(status_code=200))

    assert attempt(store, clock, delivery, sender) is None
    assert sender.sent == []
