"""The webhook repositories on a real database, PostgreSQL and SQLite alike: one delivery per
(webhook, job, event), guarded claims and finishes, keyset pages, cascades."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from domain.adapters.db import migrate, sql_uow_factory
from domain.adapters.db.engine import make_engine
from domain.jobs import JobStatus
from domain.ports import UnitOfWorkFactory
from domain.settings import Settings
from domain.webhooks import Delivery, DeliveryStatus, Webhook, WebhookEvent, new_secret
from tests.integration import records as r

pytestmark = pytest.mark.integration

T0 = r.T0
LEASE = dt.timedelta(minutes=2)


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


def add_webhook(uow) -> Webhook:
    tenant = r.tenant()
    hook = Webhook(
        id=uuid.uuid4(),
        tenant_id=tenant.id,
        url="https://hooks.example.com/rota",
        events=[WebhookEvent.JOB_SUCCEEDED, WebhookEvent.JOB_CANCELLED],
        secret=new_secret(),
        created_at=T0,
    )
    with uow() as u:
        u.tenants.add(tenant)
        u.webhooks.add(hook)
        u.commit()
    return hook


def remove(uow, hook: Webhook) -> None:
    """Delete the webhook with its deliveries, so no later sweep of this database finds them."""
    with uow() as u:
        u.webhooks.delete(hook.id, hook.tenant_id)
        u.commit()


@pytest.fixture
def webhook(uow) -> Iterator[Webhook]:
    hook = add_webhook(uow)
    yield hook
    remove(uow, hook)


def new_job(uow, tenant_id: uuid.UUID, finished_at: dt.datetime = T0) -> uuid.UUID:
    job = r.job(tenant_id, status=JobStatus.SUCCEEDED, finished_at=finished_at)
    with uow() as u:
        u.jobs.add(job, r.problem())
        u.commit()
    return job.id


def delivery(webhook: Webhook, job_id: uuid.UUID, *, due=T0, created=T0, **fields) -> Delivery:
    values: dict = {
        "id": uuid.uuid4(),
        "webhook_id": webhook.id,
        "job_id": job_id,
        "event": WebhookEvent.JOB_SUCCEEDED,
        "payload": '{"type":"job.succeeded","data":{"name":"naïve ✓"}}'.encode(),
        "correlation_id": "req-1",
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "created_at": created,
        "next_attempt_at": due,
    }
    return Delivery(**(values | fields))


def stored(uow, webhook: Webhook, job_id: uuid.UUID, **fields) -> Delivery:
    d = delivery(webhook, job_id, **fields)
    with uow() as u:
        assert u.deliveries.add(d)
        u.commit()
    return d


def test_a_webhook_reads_back_as_stored_and_only_for_its_tenant(uow, webhook):
    with uow(read_only=True) as u:
        assert u.webhooks.get(webhook.id) == webhook
        assert u.webhooks.get(webhook.id, webhook.tenant_id) == webhook
        assert u.webhooks.get(webhook.id, uuid.uuid4()) is None
        assert u.webhooks.list(webhook.tenant_id) == [webhook]
        assert u.webhooks.count(webhook.tenant_id) == 1
        assert u.webhooks.subscribed(webhook.tenant_id, WebhookEvent.JOB_CANCELLED) == [webhook]
        assert u.webhooks.subscribed(webhook.tenant_id, WebhookEvent.JOB_FAILED) == []


def test_a_second_delivery_for_the_same_webhook_job_and_event_is_not_stored(uow, webhook):
    job_id = new_job(uow, webhook.tenant_id)
    first = stored(uow, webhook, job_id)

    with uow() as u:
        assert not u.deliveries.add(delivery(webhook, job_id))
        assert u.deliveries.add(delivery(webhook, job_id, event=WebhookEvent.JOB_CANCELLED))
        u.commit()

    with uow(read_only=True) as u:
        kept = u.deliveries.of_job(job_id)
    assert len(kept) == 2
    assert first in kept  # payload bytes, times and enums read back exactly


def test_the_unique_constraint_holds_even_without_the_check(uow, webhook):
    job_id = new_job(uow, webhook.tenant_id)
    stored(uow, webhook, job_id)

    with pytest.raises(sa.exc.IntegrityError), uow() as u:
        u.deliveries._conn.execute(  # bypasses add()'s read, as a concurrent insert would
            sa.text(
                "INSERT INTO webhook_deliveries (id, webhook_id, job_id, event, payload,"
                " correlation_id, status, attempts, created_at)"
                " VALUES (:id, :w, :j, 'job.succeeded', '{}', 'x', 'pending', 0, :t)"
            ),
            {"id": uuid.uuid4().hex, "w": webhook.id.hex, "j": job_id.hex, "t": T0},
        )


def test_a_claim_by_id_takes_a_due_first_attempt_once(uow, webhook):
    d = stored(uow, webhook, new_job(uow, webhook.tenant_id), due=T0)

    with uow() as u:
        assert u.deliveries.claim(d.id, due_by=T0 - dt.timedelta(seconds=1), lease_until=T0) is None
        claimed = u.deliveries.claim(d.id, due_by=T0, lease_until=T0 + LEASE)
        again = u.deliveries.claim(d.id, due_by=T0 + LEASE, lease_until=T0 + 2 * LEASE)
        u.commit()

    assert claimed is not None
    assert (claimed.attempts, claimed.next_attempt_at) == (1, T0 + LEASE)
    assert again is None  # attempted already: retries are the sweep's


def test_finishing_an_attempt_is_guarded_by_its_number(uow, webhook):
    d = stored(uow, webhook, new_job(uow, webhook.tenant_id))
    with uow() as u:
        u.deliveries.claim(d.id, due_by=T0, lease_until=T0 + LEASE)
        stale = u.deliveries.finish_attempt(
            d.id, 2, status=DeliveryStatus.FAILED, next_attempt_at=None, status_code=None,
            error="x", delivered_at=None,
        )  # fmt: skip
        done = u.deliveries.finish_attempt(
            d.id, 1, status=DeliveryStatus.SUCCEEDED, next_attempt_at=None, status_code=200,
            error=None, delivered_at=T0,
        )  # fmt: skip
        u.commit()
        after = u.deliveries.get(d.id)

    assert (stale, done) == (False, True)
    assert (after.status, after.last_status_code, after.delivered_at) == ("succeeded", 200, T0)


def test_rescheduling_makes_a_delivery_pending_now_with_no_attempts(uow, webhook):
    d = stored(uow, webhook, new_job(uow, webhook.tenant_id), status=DeliveryStatus.FAILED,
               attempts=12, next_attempt_at=None, last_error="HTTP 500")  # fmt: skip
    later = T0 + dt.timedelta(days=1)

    with uow() as u:
        again = u.deliveries.reschedule(d.id, later)
        u.commit()

    assert (again.status, again.attempts, again.next_attempt_at) == ("pending", 0, later)
    assert again.last_error == "HTTP 500"  # what went wrong last time stays visible


def test_the_sweep_claims_the_most_overdue_delivery_and_skips_what_is_not_due(uow, webhook):
    ids = {}
    for minutes in (-1, -5, +5):
        job_id = new_job(uow, webhook.tenant_id)
        ids[minutes] = stored(uow, webhook, job_id, due=T0 + dt.timedelta(minutes=minutes)).id

    with uow() as u:
        first = u.deliveries.claim(None, due_by=T0, lease_until=T0 + LEASE)
        second = u.deliveries.claim(None, due_by=T0, lease_until=T0 + LEASE)
        third = u.deliveries.claim(None, due_by=T0, lease_until=T0 + LEASE)
        u.commit()

    assert (first.id, second.id, third) == (ids[-5], ids[-1], None)


def test_concurrent_sweeps_take_different_deliveries(db_engine):
    uow = sql_uow_factory(db_engine)
    webhook = add_webhook(uow)
    for _ in range(2):
        stored(uow, webhook, new_job(uow, webhook.tenant_id), due=T0 - dt.timedelta(days=365))
    holding, release = threading.Event(), threading.Event()
    taken = []

    def first_sweep():
        with uow() as u:
            taken.append(u.deliveries.claim(None, due_by=T0, lease_until=T0 + LEASE).id)
            holding.set()
            release.wait(30)  # keeps its row locked meanwhile
            u.commit()

    thread = threading.Thread(target=first_sweep)
    thread.start()
    assert holding.wait(30)
    with uow() as u:
        # SKIP LOCKED: the locked row is passed over, not waited for.
        taken.append(u.deliveries.claim(None, due_by=T0, lease_until=T0 + LEASE).id)
        u.commit()
    release.set()
    thread.join(30)
    remove(uow, webhook)

    assert len(set(taken)) == 2


def test_deliveries_are_paged_newest_first(uow, webhook):
    made = []
    for minutes in range(5):
        job_id = new_job(uow, webhook.tenant_id)
        made.append(stored(uow, webhook, job_id, created=T0 + dt.timedelta(minutes=minutes)))

    seen, after = [], None
    with uow(read_only=True) as u:
        while page := u.deliveries.list(webhook.id, after=after, limit=2):
            seen += page
            after = (page[-1].created_at, page[-1].id)

    assert [d.id for d in seen] == [d.id for d in reversed(made)]


def test_deleting_a_webhook_deletes_its_deliveries_and_only_for_its_tenant(uow, webhook):
    d = stored(uow, webhook, new_job(uow, webhook.tenant_id))

    with uow() as u:
        assert not u.webhooks.delete(webhook.id, uuid.uuid4())
        assert u.webhooks.delete(webhook.id, webhook.tenant_id)
        u.commit()

    with uow(read_only=True) as u:
        assert u.webhooks.get(webhook.id) is None
        assert u.deliveries.get(d.id) is None


def test_purging_a_job_purges_its_deliveries(uow, webhook):
    # Finished long before any other test's job, so the purge's first batch holds it.
    long_ago = T0 - dt.timedelta(days=3650)
    job_id = new_job(uow, webhook.tenant_id, finished_at=long_ago)
    d = stored(uow, webhook, job_id)

    with uow() as u:
        assert u.jobs.purge_finished(long_ago + dt.timedelta(seconds=1), 10) >= 1
        u.commit()

    with uow(read_only=True) as u:
        assert u.deliveries.get(d.id) is None
