"""Thin webhook tasks (STYLE.md 5) on the `light` queue; the work is domain.services.webhooks.

`deliver_webhook(delivery_id)` makes one attempt of a delivery that is due; it is published
after the commit that recorded the delivery (the job's final transaction, or a redelivery).
`sweep_webhooks()` is the periodic task (beat): it makes the attempts that are due, retries
included, so a lost or never-published message delays a delivery but never loses it.

Both are safe to run twice: an attempt starts with a guarded UPDATE that only one claimer wins.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from domain.adapters.celery_config import DELIVER_WEBHOOK_TASK, SWEEP_WEBHOOKS_TASK
from domain.services.webhooks import DeliverySettings, deliver, deliver_due
from domain.settings import Settings, get_settings
from workers import process
from workers.app import app

log = logging.getLogger(__name__)

# The database failing for a moment. An attempt that got past its claim is not repeated by
# this: its row waits for the sweep, when the lease of the claim runs out.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError)
# How long the sweep goes on claiming due deliveries before it leaves the rest to the next.
SWEEP_BUDGET_SECONDS = 60.0
SWEEP_MAX_DELIVERIES = 200


def attempt_seconds(settings: Settings) -> float:
    """The longest one attempt may take: connect, send, read the answer, read a little body.
    httpx's read timeout bounds each read, not the whole answer; this task's soft time limit
    bounds a receiver that drips its headers."""
    return settings.webhook_connect_timeout_seconds + 2 * settings.webhook_read_timeout_seconds + 5


def delivery_settings(settings: Settings) -> DeliverySettings:
    return DeliverySettings(
        max_attempts=settings.webhook_max_attempts,
        # Past any attempt's hard time limit: a claim is never taken back from a live attempt.
        lease=dt.timedelta(seconds=2 * attempt_seconds(settings) + 30),
    )


_ATTEMPT = attempt_seconds(get_settings())


@app.task(
    name=DELIVER_WEBHOOK_TASK,
    ignore_result=True,
    soft_time_limit=_ATTEMPT,
    time_limit=_ATTEMPT + 10,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
)
def deliver_webhook(delivery_id: str) -> str | None:
    """One attempt of the delivery; returns its status afterwards (shown by Flower) or None."""
    try:
        parsed = uuid.UUID(delivery_id)
    except (TypeError, ValueError, AttributeError):
        log.error("dropping a deliver_webhook message with an invalid id %.80r", delivery_id)
        return None
    c = process.container()
    status = deliver(
        parsed, c.uow_factory, c.webhook_sender, c.clock, delivery_settings(c.settings)
    )
    return None if status is None else status.value


@app.task(
    name=SWEEP_WEBHOOKS_TASK,
    ignore_result=True,
    soft_time_limit=SWEEP_BUDGET_SECONDS + _ATTEMPT,
    time_limit=SWEEP_BUDGET_SECONDS + _ATTEMPT + 10,
)
def sweep_webhooks() -> int:
    """Attempt the deliveries that are due; returns how many were attempted."""
    c = process.container()
    attempted = deliver_due(
        c.uow_factory,
        c.webhook_sender,
        c.clock,
        delivery_settings(c.settings),
        max_deliveries=SWEEP_MAX_DELIVERIES,
        budget=dt.timedelta(seconds=SWEEP_BUDGET_SECONDS),
    )
    if attempted:
        log.info("webhook sweep: %d attempt(s)", attempted)
    return attempted
