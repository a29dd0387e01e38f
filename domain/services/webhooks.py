"""Use cases of webhooks: register, list, delete, follow deliveries, redeliver, and send.

A delivery is recorded in the transaction that gives a job its final state
(`record_job_deliveries`), so a job never ends without its notification, and never has two:
the finish is a guarded UPDATE (a second run of the job writes nothing) and the deliveries
table is unique on (webhook, job, event). It is then sent by its own task (`deliver`), once per
attempt; retries are rows due at `next_attempt_at`, picked up by a periodic sweep
(`deliver_due`), so a lost task message delays a delivery but never loses it.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import msgspec

from domain.errors import Conflict, InvalidRequest, NotFound
from domain.jobs import Job
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.tenancy import Principal
from domain.webhook_ports import DeliveryCursor, DeliveryQueue, UrlGuard, WebhookSender
from domain.webhooks import (
    ALL_EVENTS,
    Delivery,
    DeliveryStatus,
    SendResult,
    Verdict,
    Webhook,
    WebhookEvent,
    event_of,
    job_payload,
    new_secret,
    retry_delay,
    signed_headers,
    verdict,
)

log = logging.getLogger(__name__)

MAX_WEBHOOKS_PER_TENANT = 20
MAX_PAGE = 1000
# A task message may reach a worker whose clock is a little behind the clock that made the
# delivery due; a claim by id (a first attempt only) accepts deliveries due this much later.
CLAIM_SLACK = dt.timedelta(seconds=5)


@dataclass(frozen=True)
class DeliverySettings:
    max_attempts: int = 12
    # How long a claimed attempt holds its delivery: past it, the attempt is presumed lost
    # with its worker and the sweep tries again. Longer than any attempt can last.
    lease: dt.timedelta = dt.timedelta(minutes=2)


# --- the tenant's webhooks --------------------------------------------------------------------


@dataclass(frozen=True)
class CreateWebhook:
    principal: Principal
    url: str
    events: Sequence[WebhookEvent] | None = None  # None: every event


@dataclass(frozen=True)
class CreatedWebhook:
    webhook: Webhook
    secret: str  # shown to the caller once, in the answer to the registration


def create_webhook(
    cmd: CreateWebhook, uow_factory: UnitOfWorkFactory, guard: UrlGuard, clock: Clock
) -> CreatedWebhook:
    """Register a URL for some events; the URL must pass the SSRF guard now (and will be
    checked again before every send)."""
    events = _events(cmd.events)
    url = cmd.url.strip()
    guard.check(url)
    webhook = Webhook(
        id=uuid.uuid4(),
        tenant_id=cmd.principal.tenant_id,
        url=url,
        events=events,
        secret=new_secret(),
        created_at=clock(),
    )
    with uow_factory() as uow:
        if uow.webhooks.count(webhook.tenant_id) >= MAX_WEBHOOKS_PER_TENANT:
            raise Conflict(
                f"a tenant has at most {MAX_WEBHOOKS_PER_TENANT} webhooks",
                code="WEBHOOK_LIMIT_REACHED",
            )
        uow.webhooks.add(webhook)
        uow.commit()
    return CreatedWebhook(webhook, webhook.secret)


def _events(events: Sequence[WebhookEvent] | None) -> list[WebhookEvent]:
    if events is None:
        return list(ALL_EVENTS)
    try:
        chosen = {WebhookEvent(e) for e in events}
    except ValueError:
        raise InvalidRequest(
            f"events must be among {', '.join(ALL_EVENTS)}", code="INVALID_WEBHOOK_EVENTS"
        ) from None
    if not chosen:
        raise InvalidRequest("events must name at least one event", code="INVALID_WEBHOOK_EVENTS")
    return [e for e in ALL_EVENTS if e in chosen]


def list_webhooks(principal: Principal, uow_factory: UnitOfWorkFactory) -> list[Webhook]:
    with uow_factory(read_only=True) as uow:
        return uow.webhooks.list(principal.tenant_id)


def delete_webhook(
    principal: Principal, webhook_id: uuid.UUID, uow_factory: UnitOfWorkFactory
) -> None:
    """Delete the webhook and its deliveries (pending ones are never sent)."""
    with uow_factory() as uow:
        if not uow.webhooks.delete(webhook_id, principal.tenant_id):
            raise _webhook_not_found(webhook_id)
        uow.commit()


def _webhook_not_found(webhook_id: object) -> NotFound:
    return NotFound(f"no webhook {str(webhook_id)[:100]}", code="WEBHOOK_NOT_FOUND")


# --- deliveries as the tenant sees them -------------------------------------------------------


@dataclass(frozen=True)
class DeliveryPage:
    items: list[Delivery]
    next_cursor: str | None


def list_deliveries(
    principal: Principal,
    webhook_id: uuid.UUID,
    uow_factory: UnitOfWorkFactory,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> DeliveryPage:
    after = _decode_cursor(cursor) if cursor else None
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", code="INVALID_LIMIT")
    with uow_factory(read_only=True) as uow:
        if uow.webhooks.get(webhook_id, principal.tenant_id) is None:
            raise _webhook_not_found(webhook_id)
        rows = uow.deliveries.list(webhook_id, after=after, limit=limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    return DeliveryPage(rows, _encode_cursor(last) if last else None)


def redeliver(
    principal: Principal,
    webhook_id: uuid.UUID,
    delivery_id: uuid.UUID,
    uow_factory: UnitOfWorkFactory,
    queue: DeliveryQueue,
    clock: Clock,
) -> Delivery:
    """Send a delivery again, whatever became of it, with a fresh series of attempts and the
    same `webhook-id` (receivers that saw it already can tell)."""
    with uow_factory() as uow:
        if uow.webhooks.get(webhook_id, principal.tenant_id) is None:
            raise _webhook_not_found(webhook_id)
        found = uow.deliveries.get(delivery_id)
        if found is None or found.webhook_id != webhook_id:
            raise NotFound(f"no delivery {delivery_id}", code="DELIVERY_NOT_FOUND")
        delivery = uow.deliveries.reschedule(delivery_id, clock())
        assert delivery is not None, "the row was read in this transaction"
        uow.commit()
    announce([delivery], queue)
    return delivery


# --- recording and sending --------------------------------------------------------------------


def record_job_deliveries(uow: UnitOfWork, job: Job, now: dt.datetime) -> list[Delivery]:
    """Record one delivery per subscribed webhook for `job`'s final state, in the caller's
    transaction (the one that finishes the job). Returns the deliveries it created; a job
    already notified of this event creates none. Publish them after the commit (`announce`)."""
    event = event_of(job.status)
    if event is None:
        return []
    created = []
    payload = job_payload(job, event, now)
    for webhook in uow.webhooks.subscribed(job.tenant_id, event):
        delivery = Delivery(
            id=uuid.uuid4(),
            webhook_id=webhook.id,
            job_id=job.id,
            event=event,
            payload=payload,
            correlation_id=job.correlation_id,
            status=DeliveryStatus.PENDING,
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        if uow.deliveries.add(delivery):
            created.append(delivery)
    return created


def record_finished_job(uow: UnitOfWork, job_id: uuid.UUID, now: dt.datetime) -> list[Delivery]:
    """record_job_deliveries for the job as it is now in `uow` (just finished)."""
    job = uow.jobs.get(job_id)
    return [] if job is None else record_job_deliveries(uow, job, now)


def announce(deliveries: Sequence[Delivery], queue: DeliveryQueue | None) -> None:
    """Publish the send task of committed deliveries. A failed publish only delays a
    delivery: it is due already, and the sweep sends it (as it does with no queue)."""
    if queue is None:
        return
    for delivery in deliveries:
        try:
            queue.enqueue_delivery(delivery.id, delivery.correlation_id)
        except Exception:
            log.warning("could not publish delivery %s; the sweep will send it", delivery.id)


def deliver(
    delivery_id: uuid.UUID,
    uow_factory: UnitOfWorkFactory,
    sender: WebhookSender,
    clock: Clock,
    settings: DeliverySettings,
    rng: random.Random | None = None,
) -> DeliveryStatus | None:
    """Make the first attempt of a new (or redelivered) delivery and record how it went:
    `succeeded`, `pending` (a retry is scheduled, for the sweep) or `failed`. None when there
    was nothing to do (attempted already, e.g. a duplicate message, or deleted)."""
    return _attempt(delivery_id, uow_factory, sender, clock, settings, rng)


def deliver_due(
    uow_factory: UnitOfWorkFactory,
    sender: WebhookSender,
    clock: Clock,
    settings: DeliverySettings,
    *,
    max_deliveries: int = 100,
    budget: dt.timedelta = dt.timedelta(seconds=60),
    rng: random.Random | None = None,
) -> int:
    """The sweep: attempt due deliveries, most overdue first, until none is due, or
    `max_deliveries` were attempted, or `budget` has passed. Returns the number attempted.
    Safe to run in several processes at once (each claim takes a different row)."""
    deadline = clock() + budget
    attempted = 0
    while attempted < max_deliveries and clock() < deadline:
        if _attempt(None, uow_factory, sender, clock, settings, rng) is None:
            break
        attempted += 1
    return attempted


def _attempt(
    delivery_id: uuid.UUID | None,
    uow_factory: UnitOfWorkFactory,
    sender: WebhookSender,
    clock: Clock,
    settings: DeliverySettings,
    rng: random.Random | None,
) -> DeliveryStatus | None:
    now = clock()
    due_by = now + CLAIM_SLACK if delivery_id is not None else now
    with uow_factory() as uow:
        delivery = uow.deliveries.claim(
            delivery_id, due_by=due_by, lease_until=now + settings.lease
        )
        webhook = None if delivery is None else uow.webhooks.get(delivery.webhook_id)
        uow.commit()
    if delivery is None or webhook is None:
        return None

    headers = signed_headers(delivery, webhook.secret, int(clock().timestamp()))
    try:
        result = sender.send(webhook.url, headers, delivery.payload)
    except Exception:
        log.exception("sending delivery %s failed unexpectedly", delivery.id)
        result = SendResult(error="internal error while sending")

    outcome = verdict(result)
    now = clock()
    status, next_at = DeliveryStatus.FAILED, None
    if outcome is Verdict.SUCCEEDED:
        status = DeliveryStatus.SUCCEEDED
    elif outcome is Verdict.RETRY and delivery.attempts < settings.max_attempts:
        status, next_at = DeliveryStatus.PENDING, now + retry_delay(delivery.attempts, rng)
    with uow_factory() as uow:
        recorded = uow.deliveries.finish_attempt(
            delivery.id,
            delivery.attempts,
            status=status,
            next_attempt_at=next_at,
            status_code=result.status_code,
            error=result.error,
            delivered_at=now if status is DeliveryStatus.SUCCEEDED else None,
        )
        uow.commit()
    log.info(
        # The job's correlation id in the text too: the sweep's attempts have none bound.
        "webhook delivery %s (%s, job %s, correlation %s) attempt %d: %s%s",
        delivery.id,
        delivery.event,
        delivery.job_id,
        delivery.correlation_id,
        delivery.attempts,
        result.status_code or result.error,
        "" if status is DeliveryStatus.PENDING else f" -> {status}",
    )
    return status if recorded else None


# --- opaque cursors (as in domain/services/jobs.py) -------------------------------------------

_cursor_parts = msgspec.json.Decoder(list[str])


def _encode_cursor(last: Delivery) -> str:
    parts = [last.created_at.isoformat(), str(last.id)]
    return base64.urlsafe_b64encode(msgspec.json.encode(parts)).decode().rstrip("=")


def _decode_cursor(cursor: str) -> DeliveryCursor:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        created, delivery_id = _cursor_parts.decode(raw)
        return dt.datetime.fromisoformat(created), uuid.UUID(delivery_id)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidRequest("malformed cursor", code="INVALID_CURSOR") from None
