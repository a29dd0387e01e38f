"""In-memory implementations of domain.ports, for unit tests of the use cases.

The fake unit of work works on a copy of the store and writes it back only on commit, so a
test can prove that a use case which fails, or forgets to commit, leaves nothing behind.
"""

from __future__ import annotations

import copy
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec

from domain.identity import AuditEvent, RefreshToken, User
from domain.jobs import Job, JobProgress, JobStatus, JobSummary
from domain.outbox import IdempotencyRecord, OutboxMessage
from domain.ports import AssignmentCursor, JobCursor
from domain.problem import Assignment, Problem, Solution, encode
from domain.tenancy import ApiKey, Tenant
from domain.webhooks import Delivery, Webhook
from tests.identity_fakes import FakeAudit, FakeRefreshTokens, FakeUsers
from tests.mfa_fakes import FakeMfa, StoredCode
from tests.webhook_fakes import FakeDeliveries, FakeWebhooks


@dataclass
class Store:
    tenants: dict[uuid.UUID, Tenant] = field(default_factory=dict)
    api_keys: dict[uuid.UUID, ApiKey] = field(default_factory=dict)
    jobs: dict[uuid.UUID, Job] = field(default_factory=dict)
    problems: dict[uuid.UUID, Problem] = field(default_factory=dict)
    solutions: dict[uuid.UUID, bytes] = field(default_factory=dict)
    assignments: dict[uuid.UUID, list[Assignment]] = field(default_factory=dict)
    outbox: dict[uuid.UUID, OutboxMessage] = field(default_factory=dict)
    idempotency: dict[tuple[uuid.UUID, str], IdempotencyRecord] = field(default_factory=dict)
    webhooks: dict[uuid.UUID, Webhook] = field(default_factory=dict)
    deliveries: dict[uuid.UUID, Delivery] = field(default_factory=dict)
    users: dict[uuid.UUID, User] = field(default_factory=dict)
    mfa_backup_codes: list[StoredCode] = field(default_factory=list)
    mfa_email_codes: list[StoredCode] = field(default_factory=list)
    refresh_tokens: dict[uuid.UUID, RefreshToken] = field(default_factory=dict)
    audit: list[AuditEvent] = field(default_factory=list)


class FakeTenants:
    def __init__(self, store: Store) -> None:
        self.s = store

    def add(self, tenant: Tenant) -> None:
        self.s.tenants[tenant.id] = tenant

    def get_by_name(self, name: str) -> Tenant | None:
        return next((t for t in self.s.tenants.values() if t.name == name), None)


class FakeApiKeys:
    def __init__(self, store: Store) -> None:
        self.s = store

    def add(self, key: ApiKey) -> None:
        self.s.api_keys[key.id] = key

    def get_by_hash(self, key_hash: str) -> ApiKey | None:
        return next((k for k in self.s.api_keys.values() if k.key_hash == key_hash), None)

    def touch(self, key_id: uuid.UUID, when: dt.datetime) -> None:
        key = self.s.api_keys[key_id]
        self.s.api_keys[key_id] = msgspec.structs.replace(key, last_used_at=when)

    def get(self, key_id: uuid.UUID, tenant_id: uuid.UUID) -> ApiKey | None:
        key = self.s.api_keys.get(key_id)
        return key if key is not None and key.tenant_id == tenant_id else None

    def list(self, tenant_id: uuid.UUID) -> list[ApiKey]:
        keys = [k for k in self.s.api_keys.values() if k.tenant_id == tenant_id]
        return sorted(keys, key=lambda k: (k.created_at, k.id))

    def revoke(self, key_id: uuid.UUID, when: dt.datetime) -> bool:
        key = self.s.api_keys[key_id]
        if key.revoked_at is not None:
            return False
        self.s.api_keys[key_id] = msgspec.structs.replace(key, revoked_at=when)
        return True


class FakeJobs:
    def __init__(self, store: Store) -> None:
        self.s = store

    def add(self, job: Job, problem: Problem) -> None:
        self.s.jobs[job.id] = job
        self.s.problems[job.id] = problem

    def get(self, job_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> Job | None:
        job = self.s.jobs.get(job_id)
        if job is None or (tenant_id is not None and job.tenant_id != tenant_id):
            return None
        return job

    def list(self, tenant_id, *, status, after: JobCursor | None, limit: int) -> list[Job]:
        jobs = [
            j
            for j in self.s.jobs.values()
            if j.tenant_id == tenant_id and (status is None or j.status == status)
        ]
        jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
        if after is not None:
            jobs = [j for j in jobs if (j.created_at, j.id) < after]
        return jobs[:limit]

    def problem(self, job_id: uuid.UUID) -> Problem | None:
        return self.s.problems.get(job_id)

    def solution_json(self, job_id: uuid.UUID, tenant_id: uuid.UUID) -> bytes | None:
        if self.get(job_id, tenant_id) is None:
            return None
        return self.s.solutions.get(job_id)

    def start(self, job_id: uuid.UUID, now: dt.datetime, max_attempts: int) -> int | None:
        job = self.s.jobs[job_id]
        if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
            return None
        if job.attempts >= max_attempts:
            return None
        self.s.jobs[job_id] = msgspec.structs.replace(
            job, status=JobStatus.RUNNING, attempts=job.attempts + 1, started_at=now
        )
        return job.attempts + 1

    def record_progress(self, job_id: uuid.UUID, attempt: int, progress: JobProgress) -> bool:
        job = self.s.jobs[job_id]
        if job.status != JobStatus.RUNNING or job.attempts != attempt:
            return False
        self.s.jobs[job_id] = msgspec.structs.replace(job, progress=progress)
        return True

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
        job = self.s.jobs[job_id]
        if job.status.finished:
            return False
        if attempt is not None and (job.status != JobStatus.RUNNING or job.attempts != attempt):
            return False
        self.s.jobs[job_id] = msgspec.structs.replace(
            job,
            status=status,
            finished_at=now,
            summary=summary,
            error_code=error_code,
            error_detail=error_detail,
        )
        if solution is not None:
            self.s.solutions[job_id] = encode(solution)
        return True

    def cancel_queued(self, job_id: uuid.UUID, now: dt.datetime) -> bool:
        job = self.s.jobs[job_id]
        if job.status != JobStatus.QUEUED:
            return False
        self.s.jobs[job_id] = msgspec.structs.replace(
            job, status=JobStatus.CANCELLED, finished_at=now, cancel_requested_at=now
        )
        return True

    def request_cancel(self, job_id: uuid.UUID, now: dt.datetime) -> bool:
        job = self.s.jobs[job_id]
        if job.status != JobStatus.RUNNING:
            return False
        if job.cancel_requested_at is None:
            self.s.jobs[job_id] = msgspec.structs.replace(job, cancel_requested_at=now)
        return True

    def cancel_requested(self, job_id: uuid.UUID) -> bool:
        job = self.s.jobs.get(job_id)
        return job is not None and job.cancel_requested_at is not None

    def stuck(self, status: JobStatus, before: dt.datetime, limit: int) -> list[Job]:
        def since(job: Job) -> dt.datetime | None:
            return job.started_at if status is JobStatus.RUNNING else job.created_at

        def pending(job: Job) -> bool:
            return any(
                m.job_id == job.id and (m.sent_at is None or m.created_at >= before)
                for m in self.s.outbox.values()
            )

        found = [
            j
            for j in self.s.jobs.values()
            if j.status == status and (t := since(j)) is not None and t < before and not pending(j)
        ]
        return sorted(found, key=since)[:limit]

    def purge_finished(self, before: dt.datetime, limit: int) -> int:
        old = sorted(
            (
                j
                for j in self.s.jobs.values()
                if j.status.finished and j.finished_at is not None and j.finished_at < before
            ),
            key=lambda j: j.finished_at,
        )[:limit]
        for job in old:
            # What ON DELETE CASCADE does in SQL.
            for table in (self.s.jobs, self.s.problems, self.s.solutions, self.s.assignments):
                table.pop(job.id, None)
            for m in [m for m in self.s.outbox.values() if m.job_id == job.id]:
                del self.s.outbox[m.id]
            for k, r in list(self.s.idempotency.items()):
                if r.job_id == job.id:
                    del self.s.idempotency[k]
            for d in [d for d in self.s.deliveries.values() if d.job_id == job.id]:
                del self.s.deliveries[d.id]
        return len(old)


class FakeAssignments:
    def __init__(self, store: Store) -> None:
        self.s = store

    def add_all(self, job_id: uuid.UUID, assignments: Sequence[Assignment]) -> None:
        assert job_id not in self.s.assignments, "assignments written twice"
        self.s.assignments[job_id] = list(assignments)

    def page(
        self, job_id, *, date, employee, after: AssignmentCursor | None, limit: int
    ) -> list[Assignment]:
        rows = sorted(
            self.s.assignments.get(job_id, []), key=lambda a: (a.date, a.employee, a.shift)
        )
        rows = [
            a
            for a in rows
            if (date is None or a.date == date)
            and (employee is None or a.employee == employee)
            and (after is None or (a.date, a.employee, a.shift) > after)
        ]
        return rows[:limit]


class FakeOutbox:
    def __init__(self, store: Store) -> None:
        self.s = store

    def add(self, message: OutboxMessage) -> None:
        self.s.outbox[message.id] = message

    def claim(self, now: dt.datetime, limit: int) -> list[OutboxMessage]:
        ready = [m for m in self.s.outbox.values() if m.sent_at is None and m.available_at <= now]
        return sorted(ready, key=lambda m: (m.available_at, m.id))[:limit]

    def mark_sent(self, message_id: uuid.UUID, now: dt.datetime) -> bool:
        message = self.s.outbox[message_id]
        if message.sent_at is not None:
            return False
        self.s.outbox[message_id] = msgspec.structs.replace(message, sent_at=now)
        return True

    def mark_sent_many(self, message_ids: Sequence[uuid.UUID], now: dt.datetime) -> int:
        return sum(self.mark_sent(message_id, now) for message_id in message_ids)

    def mark_failed(self, message_id: uuid.UUID, *, error: str, retry_at: dt.datetime) -> None:
        message = self.s.outbox[message_id]
        self.s.outbox[message_id] = msgspec.structs.replace(
            message, attempts=message.attempts + 1, last_error=error, available_at=retry_at
        )

    def purge_sent(self, before: dt.datetime, limit: int) -> int:
        old = [m.id for m in self.s.outbox.values() if m.sent_at is not None and m.sent_at < before]
        for message_id in old[:limit]:
            del self.s.outbox[message_id]
        return len(old[:limit])


class FakeIdempotencyKeys:
    def __init__(self, store: Store) -> None:
        self.s = store

    def claim(self, record: IdempotencyRecord, expired_before: dt.datetime) -> bool:
        held = self.s.idempotency.get((record.tenant_id, record.key))
        if held is not None and held.created_at >= expired_before:
            return False
        self.s.idempotency[(record.tenant_id, record.key)] = record
        return True

    def get(self, tenant_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        return self.s.idempotency.get((tenant_id, key))

    def purge(self, before: dt.datetime, limit: int) -> int:
        old = [k for k, r in self.s.idempotency.items() if r.created_at < before][:limit]
        for k in old:
            del self.s.idempotency[k]
        return len(old)


class FakeUnitOfWork:
    def __init__(self, store: Store, *, read_only: bool = False) -> None:
        self._store = store
        self._read_only = read_only
        self.committed = False

    def __enter__(self) -> FakeUnitOfWork:
        self._bind(copy.deepcopy(self._store))
        return self

    def _bind(self, work: Store) -> None:
        self._work = work
        self.tenants = FakeTenants(work)
        self.api_keys = FakeApiKeys(work)
        self.jobs = FakeJobs(work)
        self.assignments = FakeAssignments(work)
        self.outbox = FakeOutbox(work)
        self.idempotency = FakeIdempotencyKeys(work)
        self.webhooks = FakeWebhooks(work)
        self.deliveries = FakeDeliveries(work)
        self.users = FakeUsers(work)
        self.refresh_tokens = FakeRefreshTokens(work)
        self.audit = FakeAudit(work)
        self.mfa = FakeMfa(work)

    def __exit__(self, *exc: object) -> None:
        self.rollback()

    def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self._store.__dict__.update(copy.deepcopy(self._work).__dict__)
        self.committed = True

    def rollback(self) -> None:
        # The repositories see the store as it is now, as SQL does after a ROLLBACK.
        self._bind(copy.deepcopy(self._store))


class FakeCache:
    def __init__(self) -> None:
        self.entries: dict[str, bytes] = {}
        self.ttls: dict[str, int] = {}

    def get(self, key: str) -> bytes | None:
        return self.entries.get(key)

    def put(self, key: str, value: bytes, ttl_seconds: int) -> None:
        self.entries[key] = value
        self.ttls[key] = ttl_seconds


class FakeQueue:
    def __init__(self, *, broken: bool = False) -> None:
        self.sent: list[tuple[uuid.UUID, str]] = []
        self.deliveries: list[tuple[uuid.UUID, str]] = []
        self.broken = broken

    def enqueue_solve(self, job_id: uuid.UUID, correlation_id: str) -> None:
        if self.broken:
            raise ConnectionError("broker down")
        self.sent.append((job_id, correlation_id))

    def enqueue_delivery(self, delivery_id: uuid.UUID, correlation_id: str) -> None:
        if self.broken:
            raise ConnectionError("broker down")
        self.deliveries.append((delivery_id, correlation_id))


class FixedClock:
    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(milliseconds=1)
        return self.now


def fake_uow_factory(store: Store):
    """A domain.ports.UnitOfWorkFactory over `store`."""

    def factory(*, read_only: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(store, read_only=read_only)

    return factory
