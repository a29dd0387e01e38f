"""Wire types of `/v1/webhooks` and the conversion from domain records (as api/schemas.py).

The secret appears in one type only, the answer to the registration: listings never show it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

import msgspec

from api.schemas import Wire
from domain.services.webhooks import CreatedWebhook, DeliveryPage
from domain.webhooks import Delivery, DeliveryStatus, Webhook, WebhookEvent

WEBHOOKS_PATH = "/v1/webhooks"
MAX_URL_LENGTH = 2048


class WebhookCreate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    url: Annotated[
        str,
        msgspec.Meta(
            min_length=1,
            max_length=MAX_URL_LENGTH,
            description="An http(s) URL on a public address; no credentials.",
        ),
    ]
    events: (
        Annotated[
            list[WebhookEvent],
            msgspec.Meta(min_length=1, description="The events to receive (default: all)."),
        ]
        | None
    ) = None


class WebhookView(Wire):
    id: uuid.UUID
    url: str
    events: list[WebhookEvent]
    created_at: dt.datetime


class CreatedWebhookView(WebhookView):
    # Standard Webhooks: `whsec_` + base64 of the HMAC key. Shown here once, never again.
    secret: str


class WebhookList(Wire):
    items: list[WebhookView]


class DeliveryView(Wire):
    id: uuid.UUID  # the `webhook-id` header of its requests
    webhook_id: uuid.UUID
    job_id: uuid.UUID
    event: WebhookEvent
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class DeliveryList(Wire):
    items: list[DeliveryView]
    next_cursor: str | None


def webhook_path(webhook_id: uuid.UUID) -> str:
    return f"{WEBHOOKS_PATH}/{webhook_id}"


def webhook_view(webhook: Webhook) -> WebhookView:
    return WebhookView(
        id=webhook.id, url=webhook.url, events=webhook.events, created_at=webhook.created_at
    )


def created_webhook_view(created: CreatedWebhook) -> CreatedWebhookView:
    webhook = created.webhook
    return CreatedWebhookView(
        id=webhook.id,
        url=webhook.url,
        events=webhook.events,
        created_at=webhook.created_at,
        secret=created.secret,
    )


def delivery_view(delivery: Delivery) -> DeliveryView:
    return DeliveryView(
        id=delivery.id,
        webhook_id=delivery.webhook_id,
        job_id=delivery.job_id,
        event=delivery.event,
        status=delivery.status,
        attempts=delivery.attempts,
        next_attempt_at=delivery.next_attempt_at
        if delivery.status is DeliveryStatus.PENDING
        else None,
        last_status_code=delivery.last_status_code,
        last_error=delivery.last_error,
        created_at=delivery.created_at,
        delivered_at=delivery.delivered_at,
    )


def delivery_list(page: DeliveryPage) -> DeliveryList:
    return DeliveryList(items=[delivery_view(d) for d in page.items], next_cursor=page.next_cursor)
