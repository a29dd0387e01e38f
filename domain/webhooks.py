"""Webhooks: subscriptions, deliveries, Standard Webhooks signatures and the retry schedule.

Signatures follow the Standard Webhooks specification (https://www.standardwebhooks.com,
"Signature scheme"): the secret is `whsec_` + base64 of random bytes, and each attempt carries
`webhook-id` (the delivery's id, the same on every retry, so receivers can deduplicate),
`webhook-timestamp` (seconds, fresh per attempt) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body" keyed by the decoded secret>`.
Any of the specification's libraries verifies what is sent here.

Pure: standard library and msgspec only, no I/O.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import random
import secrets
import uuid
from enum import StrEnum

import msgspec

from domain.errors import InvalidRequest
from domain.jobs import Job, JobStatus

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)
# 256 bits of key, inside the 24 to 64 bytes the specification recommends.
SECRET_BYTES = 32
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
# The job's correlation id travels in the same header the API echoes (DESIGN.md section 4).
CORRELATION_HEADER = "X-Request-ID"
USER_AGENT = "Rota-Webhooks/1"

# Why a webhook URL is refused (400 at registration; at send time the delivery fails, except
# UNRESOLVABLE, which is retried: DNS may be back by the next attempt).
WEBHOOK_URL_INVALID = "WEBHOOK_URL_INVALID"
WEBHOOK_URL_FORBIDDEN = "WEBHOOK_URL_FORBIDDEN"
WEBHOOK_URL_UNRESOLVABLE = "WEBHOOK_URL_UNRESOLVABLE"


class UnsafeWebhookUrl(InvalidRequest):
    """A webhook URL that is malformed, does not resolve, or leads to a non-public address."""

    code = WEBHOOK_URL_INVALID


class WebhookEvent(StrEnum):
    JOB_SUCCEEDED = "job.succeeded"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"


ALL_EVENTS: tuple[WebhookEvent, ...] = tuple(WebhookEvent)
_EVENT_OF_STATUS = {
    JobStatus.SUCCEEDED: WebhookEvent.JOB_SUCCEEDED,
    JobStatus.FAILED: WebhookEvent.JOB_FAILED,
    JobStatus.CANCELLED: WebhookEvent.JOB_CANCELLED,
}


def event_of(status: JobStatus) -> WebhookEvent | None:
    """The event a job reaching `status` raises (None while it is not finished)."""
    return _EVENT_OF_STATUS.get(status)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Webhook(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    url: str
    events: list[WebhookEvent]
    secret: str  # whsec_...: needed in clear to sign (see domain/adapters/db/webhooks.py)
    created_at: dt.datetime


class Delivery(msgspec.Struct, kw_only=True):
    """One event for one webhook. Its id is the `webhook-id` header of every attempt."""

    id: uuid.UUID
    webhook_id: uuid.UUID
    job_id: uuid.UUID
    event: WebhookEvent
    payload: bytes  # the request body, exactly as signed and sent on every attempt
    correlation_id: str
    status: DeliveryStatus
    attempts: int
    created_at: dt.datetime
    # When the next attempt is due (pending only). While an attempt runs it is already the
    # time of the one after, so a worker lost mid-send delays the delivery but never drops it.
    next_attempt_at: dt.datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: dt.datetime | None = None


# --- secrets and signatures -------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret; ValueError when it is not one."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("a webhook secret is base64 after whsec_") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"a webhook secret holds {MIN_SECRET_BYTES}-{MAX_SECRET_BYTES} bytes")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of "id.timestamp.body"."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(delivery: Delivery, secret: str, timestamp: int) -> dict[str, str]:
    """Every header of one attempt of `delivery`, signed at `timestamp` (Unix seconds)."""
    message_id = str(delivery.id)
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, delivery.payload),
        CORRELATION_HEADER: delivery.correlation_id,
    }


# --- payloads ---------------------------------------------------------------------------------


class _Error(msgspec.Struct, kw_only=True):
    code: str
    detail: str | None


class _JobData(msgspec.Struct, kw_only=True):
    job_id: uuid.UUID
    name: str | None
    status: JobStatus
    correlation_id: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    objective: int | None
    solver: str | None
    error: _Error | None
    links: dict[str, str]


class _Payload(msgspec.Struct, kw_only=True):
    """The Standard Webhooks payload shape: `type`, `timestamp`, `data`."""

    type: WebhookEvent
    timestamp: dt.datetime
    data: _JobData


_encoder = msgspec.json.Encoder()


def job_payload(job: Job, event: WebhookEvent, now: dt.datetime) -> bytes:
    """The body of `event` for `job` in its final state: small, with links to the rest."""
    path = f"/v1/jobs/{job.id}"
    links = {"job": path}
    if job.summary is not None:
        links |= {"solution": f"{path}/solution", "assignments": f"{path}/assignments"}
    data = _JobData(
        job_id=job.id,
        name=job.name,
        status=job.status,
        correlation_id=job.correlation_id,
        created_at=job.created_at,
        finished_at=job.finished_at,
        objective=job.summary.objective if job.summary else None,
        solver=job.summary.solver if job.summary else None,
        error=_Error(code=job.error_code, detail=job.error_detail) if job.error_code else None,
        links=links,
    )
    return _encoder.encode(_Payload(type=event, timestamp=now, data=data))


# --- outcome of an attempt and the retry schedule ---------------------------------------------


class SendResult(msgspec.Struct, frozen=True, kw_only=True):
    """What one HTTP attempt came to: a status code, or an error before any status."""

    status_code: int | None = None
    error: str | None = None
    # For errors without a status: worth another attempt (timeout, connection refused, DNS),
    # or not (the address is refused by the SSRF guard, the URL is unusable).
    transient: bool = True


class Verdict(StrEnum):
    SUCCEEDED = "succeeded"
    RETRY = "retry"
    FAILED = "failed"


# 408 and 429 say "later"; every other 4xx says the request itself is wrong, and sending it
# again would not change the answer.
_RETRY_4XX = frozenset({408, 429})


def verdict(result: SendResult) -> Verdict:
    code = result.status_code
    if code is None:
        return Verdict.RETRY if result.transient else Verdict.FAILED
    if 200 <= code < 300:
        return Verdict.SUCCEEDED
    if code >= 500 or code in _RETRY_4XX:
        return Verdict.RETRY
    # 1xx, 3xx (redirects are never followed: the new target was not checked) and other 4xx.
    return Verdict.FAILED


# Delay after attempt n (n >= 1) before attempt n+1: FIRST_RETRY * FACTOR^(n-1), capped. With
# the default 12 attempts that is 5 s, 15 s, 45 s, ~2 min, ~7 min, 20 min, 1 h, 3 h, then 6 h
# three times: about 22 hours from first to last attempt, so a receiver down for a night still
# gets its events.
FIRST_RETRY = dt.timedelta(seconds=5)
BACKOFF_FACTOR = 3
MAX_RETRY_DELAY = dt.timedelta(hours=6)


def retry_delay(attempts: int, rng: random.Random | None = None) -> dt.timedelta:
    """The wait after `attempts` attempts: exponential, capped, with "equal jitter" (between
    half and all of it), so receivers recovering from an outage are not hit by every sender's
    retries at the same second, and no retry comes sooner than half its step."""
    exponent = max(attempts - 1, 0)
    # The exponent is capped before multiplying out (3^10 x 5 s is past the cap already), so a
    # large count cannot overflow timedelta.
    step = min(FIRST_RETRY * BACKOFF_FACTOR ** min(exponent, 10), MAX_RETRY_DELAY)
    fraction = 0.5 + 0.5 * (rng or _rng).random()
    return step * fraction


_rng = random.SystemRandom()
