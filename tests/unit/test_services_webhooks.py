"""The webhook use cases a tenant calls (register, list, delete, deliveries, redeliver), on
in-memory ports."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from domain.errors import Conflict, InvalidRequest, NotFound
from domain.services import webhooks as service
from domain.tenancy import Principal, Role
from domain.webhooks import (
    WEBHOOK_URL_FORBIDDEN,
    Delivery,
    DeliveryStatus,
    UnsafeWebhookUrl,
    WebhookEvent,
    secret_key,
)
from tests.fakes import FakeQueue, FixedClock, Store, fake_uow_factory

URL = "https://hooks.example.com/rota"
ALICE = Principal(tenant_id=uuid.uuid4(), role=Role.SERVICE)
BOB = Principal(tenant_id=uuid.uuid4(), role=Role.SERVICE)


class FakeGuard:
    """Refuses the URLs it is told to, as the SSRF guard would."""

    def __init__(self, refused: set[str] | None = None) -> None:
        self.refused = refused or set()
        self.checked: list[str] = []

    def check(self, url: str) -> None:
        self.checked.append(url)
        if url in self.refused:
            raise UnsafeWebhookUrl("non-public address", code=WEBHOOK_URL_FORBIDDEN)


@pytest.fixture
def store() -> Store:
    return Store()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


def create(store, clock, principal=ALICE, url=URL, events=None, guard=None):
    cmd = service.CreateWebhook(principal=principal, url=url, events=events)
    return service.create_webhook(cmd, fake_uow_factory(store), guard or FakeGuard(), clock)


def add_delivery(store, webhook_id, *, at, status=DeliveryStatus.FAILED) -> Delivery:
    delivery = Delivery(
        id=uuid.uuid4(),
        webhook_id=webhook_id,
        job_id=uuid.uuid4(),
        event=WebhookEvent.JOB_SUCCEEDED,
        payload=b"{}",
        correlation_id="req-1",
        status=status,
        attempts=12,
        created_at=at,
        last_status_code=500,
    )
    store.deliveries[delivery.id] = delivery
    return delivery


def test_registering_checks_the_url_stores_the_webhook_and_returns_its_secret_once(store, clock):
    guard = FakeGuard()

    created = create(store, clock, url=f"  {URL} ", events=["job.failed"], guard=guard)

    assert guard.checked == [URL]
    assert len(secret_key(created.secret)) == 32
    stored = store.webhooks[created.webhook.id]
    assert (stored.tenant_id, stored.url, stored.events) == (
        ALICE.tenant_id,
        URL,
        [WebhookEvent.JOB_FAILED],
    )
    assert stored.secret == created.secret  # kept to sign; the API shows it only now


def test_without_events_a_webhook_receives_every_event_once_each(store, clock):
    every = create(store, clock).webhook
    repeated = create(store, clock, events=["job.cancelled", "job.succeeded", "job.cancelled"])

    assert every.events == list(WebhookEvent)
    assert repeated.webhook.events == [WebhookEvent.JOB_SUCCEEDED, WebhookEvent.JOB_CANCELLED]


@pytest.mark.parametrize("events", [[], ["job.started"]])
def test_an_empty_or_unknown_event_list_is_refused(store, clock, events):
    with pytest.raises(InvalidRequest) as caught:
        create(store, clock, events=events)

    assert caught.value.code == "INVALID_WEBHOOK_EVENTS"
    assert store.webhooks == {}


def test_a_url_the_guard_refuses_stores_nothing(store, clock):
    with pytest.raises(UnsafeWebhookUrl) as caught:
        create(store, clock, guard=FakeGuard({URL}))

    assert caught.value.code == WEBHOOK_URL_FORBIDDEN
    assert store.webhooks == {}


def test_a_tenant_has_a_bounded_number_of_webhooks(store, clock):
    for _ in range(service.MAX_WEBHOOKS_PER_TENANT):
        create(store, clock)

    with pytest.raises(Conflict) as caught:
        create(store, clock)

    assert caught.value.code == "WEBHOOK_LIMIT_REACHED"
    assert len(store.webhooks) == service.MAX_WEBHOOKS_PER_TENANT
    create(store, clock, principal=BOB)  # another tenant's count is its own


def test_listing_shows_only_the_callers_webhooks_oldest_first(store, clock):
    first = create(store, clock).webhook
    create(store, clock, principal=BOB)
    second = create(store, clock).webhook

    listed = service.list_webhooks(ALICE, fake_uow_factory(store))

    assert [w.id for w in listed] == [first.id, second.id]


def test_deleting_removes_the_webhook_and_its_deliveries(store, clock):
    webhook = create(store, clock).webhook
    add_delivery(store, webhook.id, at=clock())

    service.delete_webhook(ALICE, webhook.id, fake_uow_factory(store))

    assert store.webhooks == {}
    assert store.deliveries == {}


def test_another_tenants_webhook_is_not_found_for_every_use_case(store, clock):
    webhook = create(store, clock).webhook
    delivery = add_delivery(store, webhook.id, at=clock())
    uow = fake_uow_factory(store)

    calls = [
        lambda: service.delete_webhook(BOB, webhook.id, uow),
        lambda: service.list_deliveries(BOB, webhook.id, uow),
        lambda: service.redeliver(BOB, webhook.id, delivery.id, uow, FakeQueue(), clock),
        lambda: service.delete_webhook(ALICE, uuid.uuid4(), uow),
    ]
    for call in calls:
        with pytest.raises(NotFound) as caught:
            call()
        assert caught.value.code == "WEBHOOK_NOT_FOUND"
    assert webhook.id in store.webhooks
    assert store.deliveries[delivery.id] == delivery


def test_deliveries_are_listed_newest_first_in_pages(store, clock):
    webhook = create(store, clock).webhook
    start = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    made = [add_delivery(store, webhook.id, at=start + dt.timedelta(minutes=i)) for i in range(5)]
    uow = fake_uow_factory(store)

    seen, cursor = [], None
    while True:
        page = service.list_deliveries(ALICE, webhook.id, uow, cursor=cursor, limit=2)
        seen += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor

    assert [d.id for d in seen] == [d.id for d in reversed(made)]


@pytest.mark.parametrize(("cursor", "limit"), [("garbage!", 10), (None, 0), (None, 1001)])
def test_a_bad_cursor_or_limit_is_refused(store, clock, cursor, limit):
    webhook = create(store, clock).webhook

    with pytest.raises(InvalidRequest):
        service.list_deliveries(
            ALICE, webhook.id, fake_uow_factory(store), cursor=cursor, limit=limit
        )


def test_redelivering_makes_a_failed_delivery_due_now_with_fresh_attempts_and_publishes_it(
    store, clock
):
    webhook = create(store, clock).webhook
    failed = add_delivery(store, webhook.id, at=clock())
    queue = FakeQueue()

    again = service.redeliver(ALICE, webhook.id, failed.id, fake_uow_factory(store), queue, clock)

    assert again.id == failed.id  # the same webhook-id: receivers can tell it is a repeat
    assert (again.status, again.attempts) == (DeliveryStatus.PENDING, 0)
    assert again.next_attempt_at is not None
    assert again.next_attempt_at <= clock.now
    assert store.deliveries[failed.id] == again
    assert queue.deliveries == [(failed.id, "req-1")]


def test_redelivering_another_webhooks_delivery_is_not_found(store, clock):
    mine = create(store, clock).webhook
    other = create(store, clock).webhook
    theirs = add_delivery(store, other.id, at=clock())

    with pytest.raises(NotFound) as caught:
        service.redeliver(ALICE, mine.id, theirs.id, fake_uow_factory(store), FakeQueue(), clock)

    assert caught.value.code == "DELIVERY_NOT_FOUND"
    assert store.deliveries[theirs.id].status is DeliveryStatus.FAILED


def test_a_broker_failure_after_redelivery_leaves_it_due_for_the_sweep(store, clock):
    webhook = create(store, clock).webhook
    failed = add_delivery(store, webhook.id, at=clock())

    service.redeliver(
        ALICE, webhook.id, failed.id, fake_uow_factory(store), FakeQueue(broken=True), clock
    )

    assert store.deliveries[failed.id].status is DeliveryStatus.PENDING
