"""In-memory webhook repositories (domain.webhook_ports), used by tests/fakes.py's unit of work.

They work on the `webhooks` and `deliveries` dicts of tests.fakes.Store and behave as the SQL
ones do, guards included, so the use cases can be tested without a database.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

from domain.webhook_ports import DeliveryCursor
from domain.webhooks import Delivery, DeliveryStatus, Webhook, WebhookEvent


class FakeWebhooks:
    def __init__(self, store: Any) -> None:
        self.s = store

    def add(self, webhook: Webhook) -> None:
        self.s.webhooks[webhook.id] = webhook

    def get(self, webhook_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> Webhook | None:
        webhook = self.s.webhooks.get(webhook_id)
        if webhook is None or (tenant_id is not None and webhook.tenant_id != tenant_id):
            return None
        return webhook

    def list(self, tenant_id: uuid.UUID) -> list[Webhook]:
        found = [w for w in self.s.webhooks.values() if w.tenant_id == tenant_id]
        return sorted(found, key=lambda w: (w.created_at, w.id))

    def count(self, tenant_id: uuid.UUID) -> int:
        return len(self.list(tenant_id))

    def delete(self, webhook_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
        if self.get(webhook_id, tenant_id) is None:
            return False
        del self.s.webhooks[webhook_id]
        for d in [d for d in self.s.deliveries.values() if d.webhook_id == webhook_id]:
            del self.s.deliveries[d.id]
        return True

    def subscribed(self, tenant_id: uuid.UUID, event: WebhookEvent) -> list[Webhook]:
        return [w for w in self.list(tenant_id) if event in w.events]


class FakeDeliveries:
    def __init__(self, store: Any) -> None:
        self.s = store

    def add(self, delivery: Delivery) -> bool:
        key = (delivery.webhook_id, delivery.job_id, delivery.event)
        if any((d.webhook_id, d.job_id, d.event) == key for d in self.s.deliveries.values()):
            return False
        self.s.deliveries[delivery.id] = delivery
        return True

    def get(self, delivery_id: uuid.UUID) -> Delivery | None:
        return self.s.deliveries.get(delivery_id)

    def list(
        self, webhook_id: uuid.UUID, *, after: DeliveryCursor | None, limit: int
    ) -> list[Delivery]:
        rows = [d for d in self.s.deliveries.values() if d.webhook_id == webhook_id]
        rows.sort(key=lambda d: (d.created_at, d.id), reverse=True)
        if after is not None:
            rows = [d for d in rows if (d.created_at, d.id) < after]
        return rows[:limit]

    def of_job(self, job_id: uuid.UUID) -> list[Delivery]:
        return sorted((d for d in self.s.deliveries.values() if d.job_id == job_id), key=_id)

    def claim(
        self, delivery_id: uuid.UUID | None, *, due_by: dt.datetime, lease_until: dt.datetime
    ) -> Delivery | None:
        due = [
            d
            for d in self.s.deliveries.values()
            if d.status is DeliveryStatus.PENDING
            and d.next_attempt_at is not None
            and d.next_attempt_at <= due_by
            and (delivery_id is None or (d.id == delivery_id and d.attempts == 0))
        ]
        if not due:
            return None
        chosen = min(due, key=lambda d: d.next_attempt_at)
        return self._put(chosen, attempts=chosen.attempts + 1, next_attempt_at=lease_until)

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
        found = self.s.deliveries.get(delivery_id)
        if found is None or found.status is not DeliveryStatus.PENDING:
            return False
        if found.attempts != attempt:
            return False
        self._put(
            found,
            status=status,
            next_attempt_at=next_attempt_at,
            last_status_code=status_code,
            last_error=error,
            delivered_at=delivered_at,
        )
        return True

    def reschedule(self, delivery_id: uuid.UUID, now: dt.datetime) -> Delivery | None:
        found = self.s.deliveries.get(delivery_id)
        if found is None:
            return None
        return self._put(
            found, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now, delivered_at=None
        )

    def _put(self, delivery: Delivery, **changes: Any) -> Delivery:
        updated = msgspec.structs.replace(delivery, **changes)
        self.s.deliveries[delivery.id] = updated
        return updated


def _id(delivery: Delivery) -> uuid.UUID:
    return delivery.id
