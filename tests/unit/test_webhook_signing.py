"""Standard Webhooks signatures, secrets, payloads, outcomes and the retry schedule."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import random
import uuid

import msgspec
import pytest

from domain.jobs import Job, JobStatus, JobSummary
from domain.webhooks import (
    CORRELATION_HEADER,
    FIRST_RETRY,
    MAX_RETRY_DELAY,
    Delivery,
    DeliveryStatus,
    SendResult,
    Verdict,
    WebhookEvent,
    event_of,
    job_payload,
    new_secret,
    retry_delay,
    secret_key,
    sign,
    signed_headers,
    verdict,
)

# The specification's published test vector (standard-webhooks/standard-webhooks,
# libraries/python/tests/test_webhooks.py, test_sign_function).
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def test_the_specifications_test_vector_is_reproduced_exactly():
    assert sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_a_new_secret_is_whsec_and_base64_of_32_random_bytes():
    first, second = new_secret(), new_secret()

    assert first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32
    assert len(secret_key(first)) == 32
    assert first != second


@pytest.mark.parametrize(
    "secret",
    ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!", "whsec_" + "QUFB" * 4],
)
def test_a_secret_without_the_prefix_or_not_base64_or_too_short_is_refused(secret):
    with pytest.raises(ValueError):
        secret_key(secret)


def delivery(payload: bytes = b'{"type":"job.succeeded"}') -> Delivery:
    return Delivery(
        id=uuid.uuid4(),
        webhook_id=uuid.uuid4(),
        job_id=uuid.uuid4(),
        event=WebhookEvent.JOB_SUCCEEDED,
        payload=payload,
        correlation_id="req-1234",
        status=DeliveryStatus.PENDING,
        attempts=1,
        created_at=NOW,
    )


def test_the_headers_carry_id_timestamp_an_independently_verifiable_signature_and_correlation():
    secret = new_secret()
    d = delivery()

    headers = signed_headers(d, secret, 1_767_600_000)

    assert headers["webhook-id"] == str(d.id)
    assert headers["webhook-timestamp"] == "1767600000"
    assert headers[CORRELATION_HEADER] == "req-1234"
    assert headers["Content-Type"] == "application/json"
    # Computed here from the specification's recipe, not with domain.webhooks.sign.
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{d.id}.1767600000.".encode() + d.payload
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert headers["webhook-signature"] == f"v1,{expected}"


def test_each_final_status_raises_its_event_and_open_ones_none():
    assert event_of(JobStatus.SUCCEEDED) is WebhookEvent.JOB_SUCCEEDED
    assert event_of(JobStatus.FAILED) is WebhookEvent.JOB_FAILED
    assert event_of(JobStatus.CANCELLED) is WebhookEvent.JOB_CANCELLED
    assert event_of(JobStatus.RUNNING) is None
    assert event_of(JobStatus.QUEUED) is None


def test_the_payload_has_the_standard_shape_with_the_jobs_outcome_and_links():
    job = Job(
        id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        status=JobStatus.SUCCEEDED,
        created_at=NOW,
        correlation_id="req-9",
        cache_key="k",
        time_limit_seconds=5.0,
        name="ward 7",
        finished_at=NOW,
        summary=JobSummary(
            status="optimal",
            solver="cp-sat",
            objective=12,
            lower_bound=12,
            penalties={},
            hard_violations=0,
            assignments=40,
            solve_seconds=1.0,
        ),
    )

    body = msgspec.json.decode(job_payload(job, WebhookEvent.JOB_SUCCEEDED, NOW))

    assert body["type"] == "job.succeeded"
    assert body["timestamp"] == "2026-01-05T09:00:00Z"
    data = body["data"]
    assert data["job_id"] == str(job.id)
    assert (data["status"], data["objective"], data["solver"]) == ("succeeded", 12, "cp-sat")
    assert data["correlation_id"] == "req-9"
    assert data["error"] is None
    assert data["links"]["solution"] == f"/v1/jobs/{job.id}/solution"


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        (SendResult(status_code=200), Verdict.SUCCEEDED),
        (SendResult(status_code=204), Verdict.SUCCEEDED),
        (SendResult(status_code=500), Verdict.RETRY),
        (SendResult(status_code=503), Verdict.RETRY),
        (SendResult(status_code=408), Verdict.RETRY),
        (SendResult(status_code=429), Verdict.RETRY),
        (SendResult(status_code=400), Verdict.FAILED),
        (SendResult(status_code=404), Verdict.FAILED),
        (SendResult(status_code=410), Verdict.FAILED),
        (SendResult(status_code=302), Verdict.FAILED),
        (SendResult(status_code=307), Verdict.FAILED),
        (SendResult(error="timed out"), Verdict.RETRY),
        (SendResult(error="connection refused"), Verdict.RETRY),
        (SendResult(error="non-public address", transient=False), Verdict.FAILED),
    ],
)
def test_timeouts_5xx_408_429_and_connection_errors_are_retried_the_rest_fails(result, expected):
    assert verdict(result) is expected


def test_the_backoff_grows_exponentially_to_a_cap_and_jitter_stays_within_half_and_whole():
    rng = random.Random(7)
    for attempts in range(1, 40):
        step = min(FIRST_RETRY * 3 ** min(attempts - 1, 12), MAX_RETRY_DELAY)
        for _ in range(20):
            delay = retry_delay(attempts, rng)
            assert step / 2 <= delay <= step
    assert retry_delay(1, random.Random(1)) <= FIRST_RETRY
    assert retry_delay(10_000, random.Random(1)) <= MAX_RETRY_DELAY


def test_the_default_twelve_attempts_spread_over_hours_but_end_within_two_days():
    lowest = sum((retry_delay(n, _Fixed(0.0)) for n in range(1, 12)), dt.timedelta())
    highest = sum((retry_delay(n, _Fixed(1.0)) for n in range(1, 12)), dt.timedelta())

    assert lowest > dt.timedelta(hours=10)
    assert highest < dt.timedelta(days=2)


class _Fixed(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value
