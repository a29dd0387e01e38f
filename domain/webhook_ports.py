"""What the webhook use cases need from the outside world, as Protocols.

Kept beside domain/ports.py (which imports the repositories into its UnitOfWork) so that the
webhook contracts read in one place. Implementations: domain/adapters/db/webhooks.py
(repositories), domain/adapters/webhook_guard.py (URL checks), domain/adapters/webhook_sender.py
(HTTP), domain/adapters/celery_queue.py (task messages); tests/fakes.py in memory.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Protocol

from domain.webhooks import Delivery, DeliveryStatus, SendResult, Webhook, WebhookEvent

# (created_at, id) of the last delivery of a page: deliveries are listed newest first.
DeliveryCursor = tuple[dt.datetime, uuid.UUID]


class WebhookRepository(Protocol):
    def add(self, webhook: Webhook) -> None: ...

    def get(self, webhook_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> Webhook | None:
        """The webhook; with `tenant_id`, only if it belongs to that tenant."""

    def list(self, tenant_id: uuid.UUID) -> list[Webhook]:
        """The tenant's webhooks, oldest first."""

    def count(self, tenant_id: uuid.UUID) -> int: ...

    def delete(self, webhook_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
        """Delete the tenant's webhook and its deliveries; False when there was none."""

    def subscribed(self, tenant_id: uuid.UUID, event: WebhookEvent) -> list[Webhook]:
        """The tenant's webhooks that receive `event`."""


class DeliveryRepository(Protocol):
    def add(self, delivery: Delivery) -> bool:
        """Store a new delivery; False (and nothing stored) when this webhook already has one
        for this job and event, so a job finished twice notifies once."""

    def get(self, delivery_id: uuid.UUID) -> Delivery | None: ...

    def list(
        self, webhook_id: uuid.UUID, *, after: DeliveryCursor | None, limit: int
    ) -> list[Delivery]:
        """The webhook's deliveries, newest first, strictly after `after` in that order."""

    def of_job(self, job_id: uuid.UUID) -> list[Delivery]: ...

    def claim(
        self, delivery_id: uuid.UUID | None, *, due_by: dt.datetime, lease_until: dt.datetime
    ) -> Delivery | None:
        """Take one attempt of a pending delivery due by `due_by` (`next_attempt_at <=
        due_by`): one guarded UPDATE that counts the attempt and moves `next_attempt_at` to
        `lease_until`, so no other claimer takes it meanwhile. With `delivery_id`, only if it
        was not attempted yet (a new or redelivered one: retries are the sweep's); with None,
        the most overdue delivery (skipping rows another claimer is locking). Returns the
        delivery as claimed, or None when there is nothing to take."""

    def finish_attempt(
        self,
        delivery_id: uuid.UUID,
        attempt: int,
        *,
        status: DeliveryStatus,
        next_attempt_at: dt.datetime | None,
        status_code: int | None,
        error: str | None,
        delivered_at: dt.datetime | None,
    ) -> bool:
        """Record the outcome of attempt `attempt`, if the delivery is still pending at that
        attempt (a redelivery in between starts over and wins)."""

    def reschedule(self, delivery_id: uuid.UUID, now: dt.datetime) -> Delivery | None:
        """Make the delivery pending and due now with a fresh count of attempts."""


class UrlGuard(Protocol):
    def check(self, url: str) -> object:
        """Raise domain.webhooks.UnsafeWebhookUrl when `url` may not be a webhook target."""


class WebhookSender(Protocol):
    def send(self, url: str, headers: Mapping[str, str], body: bytes) -> SendResult:
        """POST `body` once; never raises for anything the receiver or the network does."""


class DeliveryQueue(Protocol):
    def enqueue_delivery(self, delivery_id: uuid.UUID, correlation_id: str) -> None:
        """Publish the send task of a committed delivery."""
