"""Webhook deliveries sent for real: the use cases on PostgreSQL, the httpx sender and a live
receiver on 127.0.0.1 (tests/integration/webhook_receiver.py).

Retries are made by the sweep with a clock the test moves past `next_attempt_at`, so nothing
waits for a backoff. Timeouts are short (1 s read) and asserted by outcome, never by duration.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from domain.adapters.db import sql_uow_factory
from domain.adapters.webhook_guard import WebhookGuard
from domain.adapters.webhook_sender import HttpWebhookSender
from domain.jobs import JobStatus
from domain.ports import UnitOfWorkFactory
from domain.services import webhooks as service
from domain.tenancy import Principal, Role
from domain.webhooks import Delivery, DeliveryStatus
from tests.integration import records as r
from tests.integration.webhook_receiver import Answer, Receiver, free_port, self_signed

pytestmark = pytest.mark.integration

LOCAL = ("127.0.0.0/8",)
SETTINGS = service.DeliverySettings(max_attempts=5, lease=dt.timedelta(minutes=2))
PUBLIC = "93.184.215.14"


class Clock:
    """Now, as far as the use cases know; moved by the test."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


class Dns:
    """A resolver with scripted answers per name: the last one repeats."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    def __call__(self, host: str, port: int) -> list[str]:
        queue = self.answers[host]
        return [queue.pop(0) if len(queue) > 1 else queue[0]]


@dataclass
class World:
    uow: UnitOfWorkFactory
    clock: Clock
    principal: Principal

    def register(self, url: str, guard: WebhookGuard) -> str:
        cmd = service.CreateWebhook(principal=self.principal, url=url)
        return service.create_webhook(cmd, self.uow, guard, self.clock).secret

    def finished_job(self) -> Delivery:
        """A succeeded job of the tenant, with the delivery recorded as run_job records it."""
        job = r.job(
            self.principal.tenant_id,
            status=JobStatus.SUCCEEDED,
            finished_at=r.T0,
            correlation_id=f"req-{uuid.uuid4().hex[:8]}",
        )
        with self.uow() as u:
            u.jobs.add(job, r.problem())
            [delivery] = service.record_job_deliveries(u, job, self.clock())
            u.commit()
        return delivery

    def deliver(self, delivery: Delivery, sender: HttpWebhookSender) -> Delivery:
        service.deliver(delivery.id, self.uow, sender, self.clock, SETTINGS)
        return self.get(delivery)

    def retry(self, delivery: Delivery, sender: HttpWebhookSender) -> Delivery:
        """Move the clock to the scheduled retry and run the sweep."""
        due = self.get(delivery).next_attempt_at
        assert due is not None, "no retry is scheduled"
        self.clock.now = due
        assert service.deliver_due(self.uow, sender, self.clock, SETTINGS) >= 1
        return self.get(delivery)

    def get(self, delivery: Delivery) -> Delivery:
        with self.uow(read_only=True) as u:
            found = u.deliveries.get(delivery.id)
        assert found is not None
        return found


@pytest.fixture
def world(db_engine) -> Iterator[World]:
    uow = sql_uow_factory(db_engine)
    tenant = r.tenant()
    with uow() as u:
        u.tenants.add(tenant)
        u.commit()
    principal = Principal(tenant_id=tenant.id, role=Role.SERVICE)
    yield World(uow, Clock(), principal)
    with uow() as u:  # no pending delivery is left for another test's sweep
        for webhook in u.webhooks.list(tenant.id):
            u.webhooks.delete(webhook.id, tenant.id)
        u.commit()


def sender(guard: WebhookGuard, **kwargs) -> HttpWebhookSender:
    return HttpWebhookSender(guard, connect_timeout=2.0, read_timeout=1.0, **kwargs)


def test_a_delivery_arrives_signed_with_its_correlation_id_and_the_receiver_verifies_it(world):
    guard = WebhookGuard(LOCAL)
    with Receiver() as receiver:
        secret = world.register(receiver.url(), guard)
        delivery = world.finished_job()

        done = world.deliver(delivery, sender(guard))

    assert (done.status, done.attempts, done.last_status_code) == ("succeeded", 1, 204)
    [got] = receiver.received
    assert got.signature_valid(secret)
    assert got.body == delivery.payload
    assert got.headers["webhook-id"] == str(delivery.id)
    assert got.headers["x-request-id"] == delivery.correlation_id
    assert got.headers["host"] == f"127.0.0.1:{receiver.port}"
    assert got.headers["content-type"] == "application/json"


def test_a_receiver_answering_500_then_200_gets_the_delivery_on_the_retry(world):
    guard = WebhookGuard(LOCAL)
    with Receiver() as receiver:
        receiver.script = [Answer(500, body=b"database is down"), Answer(200)]
        secret = world.register(receiver.url(), guard)
        delivery = world.finished_job()
        s = sender(guard)

        first = world.deliver(delivery, s)
        second = world.retry(delivery, s)

    assert (first.status, first.last_status_code) == ("pending", 500)
    assert first.last_error == "HTTP 500: database is down"
    assert (second.status, second.attempts, second.last_status_code) == ("succeeded", 2, 200)
    assert [g.headers["webhook-id"] for g in receiver.received] == [str(delivery.id)] * 2
    assert all(g.signature_valid(secret) for g in receiver.received)


def test_a_receiver_that_is_down_then_up_gets_the_delivery_after_recovery(world):
    guard = WebhookGuard(LOCAL)
    port = free_port()  # nothing listens there yet
    secret = world.register(Receiver(port).url(), guard)
    delivery = world.finished_job()
    s = sender(guard)

    down = world.deliver(delivery, s)
    with Receiver(port) as receiver:
        up = world.retry(delivery, s)

    assert down.status == "pending"
    assert down.last_status_code is None
    assert "ConnectError" in down.last_error
    assert (up.status, up.attempts) == ("succeeded", 2)
    [got] = receiver.received
    assert got.signature_valid(secret)


def test_a_receiver_that_never_answers_is_cut_off_by_the_read_timeout(world):
    guard = WebhookGuard(LOCAL)
    with Receiver() as receiver:
        receiver.script = [Answer(hang=True)]  # holds the request until the receiver stops
        world.register(receiver.url(), guard)
        delivery = world.finished_job()

        slow = world.deliver(delivery, sender(guard))
        assert not receiver.release.is_set()  # the attempt ended while the receiver still hung

    assert (slow.status, slow.attempts) == ("pending", 1)
    assert slow.last_error == "timed out (ReadTimeout)"
    assert len(receiver.received) == 1


def test_a_redirect_is_not_followed_and_fails_the_delivery(world):
    guard = WebhookGuard(LOCAL)
    with Receiver() as receiver:
        receiver.script = [Answer(307, headers={"Location": receiver.url("/elsewhere")})]
        world.register(receiver.url(), guard)
        delivery = world.finished_job()

        done = world.deliver(delivery, sender(guard))

    assert (done.status, done.last_status_code) == ("failed", 307)
    assert "redirects are not followed" in done.last_error
    assert [g.path for g in receiver.received] == ["/hook"]


def test_dns_rebinding_to_a_private_address_after_registration_is_refused_at_send(world):
    # A public answer while the webhook is registered, then 127.0.0.1 when it is sent.
    dns = Dns({"rebind.example": [PUBLIC, "127.0.0.1"]})
    guard = WebhookGuard((), resolver=dns)
    with Receiver() as receiver:
        world.register(receiver.url(host="rebind.example"), guard)
        delivery = world.finished_job()

        done = world.deliver(delivery, sender(guard))

    assert (done.status, done.last_status_code) == ("failed", None)
    assert "non-public address (127.0.0.1)" in done.last_error
    assert receiver.received == []


def test_the_checked_address_is_the_one_connected_to_and_the_host_header_keeps_the_name(world):
    # The name resolves only through the guard's resolver: had httpx looked it up again
    # itself, the request could not have been sent.
    name = f"receiver-{uuid.uuid4().hex[:8]}.invalid"
    guard = WebhookGuard(LOCAL, resolver=lambda host, port: ["127.0.0.1"])
    with Receiver() as receiver:
        world.register(receiver.url(host=name), guard)
        done = world.deliver(world.finished_job(), sender(guard))

    assert done.status == "succeeded"
    assert receiver.received[0].headers["host"] == f"{name}:{receiver.port}"


def test_https_connects_to_the_pinned_address_with_the_names_sni_and_certificate(world, tmp_path):
    name = "receiver.test"
    server_tls, client_tls = self_signed(tmp_path, name)
    guard = WebhookGuard(LOCAL, resolver=lambda host, port: ["127.0.0.1"])
    with Receiver(tls=server_tls) as receiver:
        world.register(receiver.url(host=name), guard)
        done = world.deliver(world.finished_job(), sender(guard, verify=client_tls))

    # The certificate names only receiver.test: it verified because the TLS name was kept.
    assert done.status == DeliveryStatus.SUCCEEDED, done.last_error
    assert receiver.server_names == [name]
    assert receiver.received[0].headers["host"] == f"{name}:{receiver.port}"
