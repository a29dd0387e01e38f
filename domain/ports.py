"""What the use cases need from the outside world, as Protocols (DESIGN.md section 1).

`domain/services/` depends on these only; `domain/adapters/` implements them with SQLAlchemy,
Redis and Celery, and `tests/fakes.py` in memory. Repositories never commit: the unit of work
does, once per use case.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol, Self

from domain.identity_ports import AuditRepository, RefreshTokenRepository, UserRepository
from domain.jobs import Job, JobProgress, JobStatus, JobSummary
from domain.mfa_ports import MfaRepository
from domain.outbox import IdempotencyRecord, OutboxMessage
from domain.problem import Assignment, Problem, Solution
from domain.solver.runner import Progress
from domain.tenancy import ApiKey, Tenant
from domain.webhook_ports import DeliveryRepository, WebhookRepository

# (created_at, id) of the last job of a page: jobs are listed newest first.
JobCursor = tuple[dt.datetime, uuid.UUID]
# (date, employee id, shift id) of the last assignment of a page, the order of the listing. The
# shift is part of it because a roster that breaks a hard rule can give someone two shifts a day.
AssignmentCursor = tuple[dt.date, str, str]


class TenantRepository(Protocol):
    def add(self, tenant: Tenant) -> None: ...
    def get_by_name(self, name: str) -> Tenant | None: ...


class ApiKeyRepository(Protocol):
    def add(self, key: ApiKey) -> None: ...
    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, revoked or not (the caller checks `revoked_at`)."""

    def touch(self, key_id: uuid.UUID, when: dt.datetime) -> None:
        """Record a use of the key (`last_used_at`)."""

    def get(self, key_id: uuid.UUID, tenant_id: uuid.UUID) -> ApiKey | None:
        """The key if it belongs to that tenant, revoked or not."""

    def list(self, tenant_id: uuid.UUID) -> list[ApiKey]:
        """The tenant's keys, revoked ones included, oldest first."""

    def revoke(self, key_id: uuid.UUID, when: dt.datetime) -> bool:
        """Set `revoked_at` if it is not set yet; whether it changed."""


class JobRepository(Protocol):
    def add(self, job: Job, problem: Problem) -> None: ...

    def get(self, job_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> Job | None:
        """The job; with `tenant_id`, only if it belongs to that tenant."""

    def list(
        self,
        tenant_id: uuid.UUID,
        *,
        status: JobStatus | None,
        after: JobCursor | None,
        limit: int,
    ) -> list[Job]:
        """The tenant's jobs, newest first, strictly after `after` in that order."""

    def problem(self, job_id: uuid.UUID) -> Problem | None: ...

    def solution_json(self, job_id: uuid.UUID, tenant_id: uuid.UUID) -> bytes | None:
        """The stored solution as JSON bytes (served as they are), or None."""

    def start(self, job_id: uuid.UUID, now: dt.datetime, max_attempts: int) -> int | None:
        """Mark a queued (or orphaned running) job running and count one more attempt.

        One guarded UPDATE: only when the status is queued or running and fewer than
        `max_attempts` attempts were made. Returns the new attempt number, or None when the
        guard did not match (finished, cancelled, or out of attempts).
        """

    def record_progress(self, job_id: uuid.UUID, attempt: int, progress: JobProgress) -> bool:
        """Store progress if the job is still running this attempt."""

    def finish(
        self,
        job_id: uuid.UUID,
        *,
        attempt: int | None,
        status: JobStatus,
        now: dt.datetime,
        summary: JobSummary | None = None,
        solution: Solution | None = None,
        error_code: str | None = None,
        error_detail: str | None = None,
    ) -> bool:
        """Set the final state, guarded: the job must not be finished yet and, when `attempt`
        is given, must be running that attempt. Returns whether the row changed; only then
        may the caller write assignments."""

    def cancel_queued(self, job_id: uuid.UUID, now: dt.datetime) -> bool:
        """Cancel the job if it is still queued (guarded UPDATE); whether it was."""

    def request_cancel(self, job_id: uuid.UUID, now: dt.datetime) -> bool:
        """Ask a running job to stop (sets `cancel_requested_at` once); whether it runs."""

    def cancel_requested(self, job_id: uuid.UUID) -> bool:
        """Whether a cancel was requested: the cheap read a running solve polls."""

    def stuck(self, status: JobStatus, before: dt.datetime, limit: int) -> list[Job]:
        """Jobs in `status` since before `before` (running: started, queued: created) that
        have no unsent outbox message and none created since `before`: their message is
        lost, or their worker died without Celery redelivering it."""

    def purge_finished(self, before: dt.datetime, limit: int) -> int:
        """Delete up to `limit` jobs finished before `before`, with their assignments,
        outbox messages and idempotency keys; the number deleted."""


class AssignmentRepository(Protocol):
    def add_all(self, job_id: uuid.UUID, assignments: Sequence[Assignment]) -> None: ...

    def page(
        self,
        job_id: uuid.UUID,
        *,
        date: dt.date | None,
        employee: str | None,
        after: AssignmentCursor | None,
        limit: int,
    ) -> list[Assignment]:
        """Assignments ordered by (date, employee, shift), strictly after `after`."""


class OutboxRepository(Protocol):
    """Messages to publish once the transaction that wrote them has committed."""

    def add(self, message: OutboxMessage) -> None: ...

    def claim(self, now: dt.datetime, limit: int) -> list[OutboxMessage]:
        """Up to `limit` unsent messages available at `now`, oldest first, locked until the
        end of the transaction; rows another transaction holds are skipped (SKIP LOCKED), so
        several relays never claim the same message."""

    def mark_sent(self, message_id: uuid.UUID, now: dt.datetime) -> bool:
        """Mark the message sent if it was not yet; whether it changed."""

    def mark_sent_many(self, message_ids: Sequence[uuid.UUID], now: dt.datetime) -> int:
        """`mark_sent` for several messages in one statement; how many changed."""

    def mark_failed(self, message_id: uuid.UUID, *, error: str, retry_at: dt.datetime) -> None:
        """Count a failed publish and hold the message back until `retry_at`."""

    def purge_sent(self, before: dt.datetime, limit: int) -> int:
        """Delete up to `limit` messages sent before `before`; the number deleted."""


class IdempotencyRepository(Protocol):
    def claim(self, record: IdempotencyRecord, expired_before: dt.datetime) -> bool:
        """Store the key unless the tenant already holds it (an entry created before
        `expired_before` no longer counts and is replaced). False when it is taken, also by
        a concurrent transaction that committed first (the unique constraint decides)."""

    def get(self, tenant_id: uuid.UUID, key: str) -> IdempotencyRecord | None: ...

    def purge(self, before: dt.datetime, limit: int) -> int:
        """Delete up to `limit` keys created before `before`; the number deleted."""


class UnitOfWork(Protocol):
    """One transaction. Leaving the `with` block without `commit()` rolls everything back.

    A serialization failure or deadlock leaves it as domain.errors.RetryableConflict and a
    lost database as domain.errors.ServiceUnavailable, whatever the storage.
    """

    tenants: TenantRepository
    api_keys: ApiKeyRepository
    jobs: JobRepository
    assignments: AssignmentRepository
    outbox: OutboxRepository
    idempotency: IdempotencyRepository
    webhooks: WebhookRepository
    deliveries: DeliveryRepository
    users: UserRepository
    refresh_tokens: RefreshTokenRepository
    audit: AuditRepository
    mfa: MfaRepository

    def __enter__(self) -> Self: ...
    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...


class UnitOfWorkFactory(Protocol):
    def __call__(self, *, read_only: bool = False) -> UnitOfWork:
        """A new unit of work. `read_only=True` is for queries: it cannot commit, and on
        PostgreSQL it runs each statement on its own (autocommit), which saves the BEGIN and
        ROLLBACK round trips that most API reads would otherwise pay for."""


Clock = Callable[[], dt.datetime]


class ResultCache(Protocol):
    """Solutions by cache key. An unreachable cache behaves as a miss, never as an error."""

    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, value: bytes, ttl_seconds: int) -> None: ...


class JobQueue(Protocol):
    def enqueue_solve(self, job_id: uuid.UUID, correlation_id: str) -> None:
        """Publish the solve task of a committed job; raises when the broker cannot take it."""

    def enqueue_delivery(self, delivery_id: uuid.UUID, correlation_id: str) -> None:
        """Publish one attempt of a committed webhook delivery (domain.webhook_ports)."""


class SolveFunction(Protocol):
    """Runs one validated problem to a Solution (domain.solver.runner.solve_isolated)."""

    def __call__(
        self,
        problem: Problem,
        *,
        on_progress: Callable[[Progress], None],
        should_cancel: Callable[[], bool],
    ) -> Solution: ...
