"""Messages of the transactional outbox and the records of idempotent requests.

A message is written in the same transaction as the row it announces (a queued job), so it
exists exactly when that row does; the relay (domain.services.outbox) publishes it to the
broker afterwards and marks it sent (DESIGN.md section 2).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec

# The kinds of message; the relay knows how to publish each one.
SOLVE_JOB = "solve_job"


class OutboxMessage(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    kind: str
    job_id: uuid.UUID | None
    # What the publisher needs besides the job id: the correlation id, at least.
    payload: dict[str, Any]
    created_at: dt.datetime
    # Not published before this instant: the API's own publish goes first (see submit_job),
    # and a failed publish is retried after a backoff.
    available_at: dt.datetime
    attempts: int = 0
    sent_at: dt.datetime | None = None
    last_error: str | None = None

    @classmethod
    def solve_job(
        cls, job_id: uuid.UUID, correlation_id: str, now: dt.datetime, available_at: dt.datetime
    ) -> OutboxMessage:
        return cls(
            id=uuid.uuid4(),
            kind=SOLVE_JOB,
            job_id=job_id,
            payload={"correlation_id": correlation_id},
            created_at=now,
            available_at=available_at,
        )

    @property
    def correlation_id(self) -> str:
        value = self.payload.get("correlation_id")
        return value if isinstance(value, str) else "-"


class IdempotencyRecord(msgspec.Struct, kw_only=True):
    """What an `Idempotency-Key` was first used for: a request (by hash) and the job it made."""

    tenant_id: uuid.UUID
    key: str
    request_hash: str
    job_id: uuid.UUID
    created_at: dt.datetime
