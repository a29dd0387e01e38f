"""Webhooks and their deliveries in SQL (domain.webhook_ports repositories).

The signing secret is not hashed like API keys: it must be read back to sign every attempt. With
a keyring (ROTA_WEBHOOK_ENCRYPTION_KEY, or Vault's secret/rota/webhooks) it is stored encrypted
with AES-256-GCM bound to the webhook's id, so a database dump alone cannot forge a tenant's
webhooks; a secret stored in clear (development without a key, or before encryption) starts
with `whsec_` and is read as it is. Listings never return it.

Attempts are claimed with one guarded UPDATE each; the sweep's "next due" claim locks its row
with FOR UPDATE SKIP LOCKED on PostgreSQL, so sweeps in several workers take different rows.
SQLite serialises writers, which gives the same guarantee there.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from domain.adapters.db.tables import webhook_deliveries as deliveries
from domain.adapters.db.tables import webhooks
from domain.mfa.keyring import Keyring, SecretUnreadable
from domain.webhook_ports import DeliveryCursor
from domain.webhooks import SECRET_PREFIX, Delivery, DeliveryStatus, Webhook, WebhookEvent

_events = msgspec.json.Decoder(list[WebhookEvent])
_PENDING = DeliveryStatus.PENDING.value


class SqlWebhooks:
    def __init__(self, conn: Connection, keyring: Keyring | None = None) -> None:
        self._conn = conn
        self._keyring = keyring

    def add(self, webhook: Webhook) -> None:
        self._conn.execute(
            webhooks.insert().values(
                id=webhook.id,
                tenant_id=webhook.tenant_id,
                url=webhook.url,
                events=[e.value for e in webhook.events],
                secret=seal(self._keyring, webhook.id, webhook.secret),
                created_at=webhook.created_at,
            )
        )

    def get(self, webhook_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> Webhook | None:
        query = _select_webhooks().where(webhooks.c.id == webhook_id)
        if tenant_id is not None:
            query = query.where(webhooks.c.tenant_id == tenant_id)
        row = self._conn.execute(query).first()
        return None if row is None else _webhook(row, self._keyring)

    def list(self, tenant_id: uuid.UUID) -> list[Webhook]:
        query = (
            _select_webhooks()
            .where(webhooks.c.tenant_id == tenant_id)
            .order_by(webhooks.c.created_at, webhooks.c.id)
        )
        return [_webhook(row, self._keyring) for row in self._conn.execute(query)]

    def count(self, tenant_id: uuid.UUID) -> int:
        query = sa.select(sa.func.count()).where(webhooks.c.tenant_id == tenant_id)
        return self._conn.execute(query).scalar_one()

    def delete(self, webhook_id: uuid.UUID, tenant_id: uuid.UUID) -> bool:
        owned = sa.select(webhooks.c.id).where(
            webhooks.c.id == webhook_id, webhooks.c.tenant_id == tenant_id
        )
        # Explicitly, not only by ON DELETE CASCADE: SQLite enforces foreign keys only when a
        # connection asks for it.
        self._conn.execute(deliveries.delete().where(deliveries.c.webhook_id.in_(owned)))
        result = self._conn.execute(
            webhooks.delete().where(webhooks.c.id == webhook_id, webhooks.c.tenant_id == tenant_id)
        )
        return result.rowcount == 1

    def subscribed(self, tenant_id: uuid.UUID, event: WebhookEvent) -> list[Webhook]:
        # A tenant has a handful of webhooks: filtering the events list here avoids
        # dialect-specific JSON containment queries.
        return [w for w in self.list(tenant_id) if event in w.events]


class SqlDeliveries:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, delivery: Delivery) -> bool:
        # The unique (webhook_id, job_id, event) decides: checked first so the common case
        # needs no savepoint, and a concurrent insert still fails in the database.
        exists = self._conn.execute(
            sa.select(deliveries.c.id).where(
                deliveries.c.webhook_id == delivery.webhook_id,
                deliveries.c.job_id == delivery.job_id,
                deliveries.c.event == delivery.event.value,
            )
        ).first()
        if exists is not None:
            return False
        self._conn.execute(deliveries.insert().values(**_columns(delivery)))
        return True

    def get(self, delivery_id: uuid.UUID) -> Delivery | None:
        row = self._conn.execute(deliveries.select().where(deliveries.c.id == delivery_id)).first()
        return None if row is None else _delivery(row)

    def list(
        self, webhook_id: uuid.UUID, *, after: DeliveryCursor | None, limit: int
    ) -> list[Delivery]:
        query = deliveries.select().where(deliveries.c.webhook_id == webhook_id)
        if after is not None:
            query = query.where(
                sa.tuple_(deliveries.c.created_at, deliveries.c.id)
                < sa.tuple_(
                    sa.literal(after[0], deliveries.c.created_at.type),
                    sa.literal(after[1], deliveries.c.id.type),
                )
            )
        query = query.order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc()).limit(limit)
        return [_delivery(row) for row in self._conn.execute(query)]

    def of_job(self, job_id: uuid.UUID) -> list[Delivery]:
        query = deliveries.select().where(deliveries.c.job_id == job_id)
        return [_delivery(row) for row in self._conn.execute(query.order_by(deliveries.c.id))]

    def claim(
        self, delivery_id: uuid.UUID | None, *, due_by: dt.datetime, lease_until: dt.datetime
    ) -> Delivery | None:
        due = [deliveries.c.status == _PENDING, deliveries.c.next_attempt_at <= due_by]
        if delivery_id is None:
            target = (
                sa.select(deliveries.c.id)
                .where(*due)
                .order_by(deliveries.c.next_attempt_at)
                .limit(1)
                .with_for_update(skip_locked=True)
                .scalar_subquery()
            )
        else:
            target = sa.literal(delivery_id, deliveries.c.id.type)
            due.append(deliveries.c.attempts == 0)
        row = self._conn.execute(
            deliveries.update()
            .where(deliveries.c.id == target, *due)
            .values(attempts=deliveries.c.attempts + 1, next_attempt_at=lease_until)
            .returning(*deliveries.c)
        ).first()
        return None if row is None else _delivery(row)

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
        result = self._conn.execute(
            deliveries.update()
            .where(
                deliveries.c.id == delivery_id,
                deliveries.c.status == _PENDING,
                deliveries.c.attempts == attempt,
            )
            .values(
                status=status.value,
                next_attempt_at=next_attempt_at,
                last_status_code=status_code,
                last_error=error,
                delivered_at=delivered_at,
            )
        )
        return result.rowcount == 1

    def reschedule(self, delivery_id: uuid.UUID, now: dt.datetime) -> Delivery | None:
        row = self._conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery_id)
            .values(status=_PENDING, attempts=0, next_attempt_at=now, delivered_at=None)
            .returning(*deliveries.c)
        ).first()
        return None if row is None else _delivery(row)


def _select_webhooks() -> sa.Select[Any]:
    return sa.select(
        webhooks.c.id,
        webhooks.c.tenant_id,
        webhooks.c.url,
        sa.cast(webhooks.c.events, sa.Text).label("events"),
        webhooks.c.secret,
        webhooks.c.created_at,
    )


def seal(keyring: Keyring | None, webhook_id: uuid.UUID, secret: str) -> str:
    """The stored form of a secret: encrypted when there is a keyring, else as it is."""
    if keyring is None:
        return secret
    return keyring.encrypt(secret, context=f"webhook:{webhook_id}")


def unseal(keyring: Keyring | None, webhook_id: uuid.UUID, stored: str) -> str:
    """The secret back; SecretUnreadable when it is encrypted and no key of the keyring
    opens it (a key retired too early, or a tampered row)."""
    if stored.startswith(SECRET_PREFIX):
        return stored
    if keyring is None:
        raise SecretUnreadable("the webhook secret is encrypted and no key is configured")
    return keyring.decrypt(stored, context=f"webhook:{webhook_id}")


def _webhook(row: Row, keyring: Keyring | None) -> Webhook:
    return Webhook(
        id=row.id,
        tenant_id=row.tenant_id,
        url=row.url,
        events=_events.decode(row.events),
        secret=unseal(keyring, row.id, row.secret),
        created_at=row.created_at,
    )


def _columns(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "job_id": delivery.job_id,
        "event": delivery.event.value,
        "payload": delivery.payload.decode(),
        "correlation_id": delivery.correlation_id,
        "status": delivery.status.value,
        "attempts": delivery.attempts,
        "next_attempt_at": delivery.next_attempt_at,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": delivery.created_at,
        "delivered_at": delivery.delivered_at,
    }


def _delivery(row: Row) -> Delivery:
    return Delivery(
        id=row.id,
        webhook_id=row.webhook_id,
        job_id=row.job_id,
        event=WebhookEvent(row.event),
        payload=row.payload.encode(),
        correlation_id=row.correlation_id,
        status=DeliveryStatus(row.status),
        attempts=row.attempts,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        last_status_code=row.last_status_code,
        last_error=row.last_error,
        delivered_at=row.delivered_at,
    )
