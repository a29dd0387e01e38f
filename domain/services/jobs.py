"""Use cases of the jobs API: submit, read, list, and page through a roster.

Plain functions of (command, unit of work factory, collaborators), as STYLE.md 2: no Litestar or
Celery object crosses into here. The API decodes and validates the problem before calling
`submit_job` (domain.validation.decode_problem), so a Problem here is always valid.

Submitting writes the job and its outbox message in one transaction (domain.services.outbox
publishes it afterwards), and an Idempotency-Key makes a repeated request return the first
one's job: the (tenant, key) unique constraint decides between concurrent ones.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
import uuid
from dataclasses import dataclass

import msgspec

from domain.errors import Conflict, InvalidRequest, NotFound, RetryableConflict
from domain.jobs import Job, JobStatus
from domain.outbox import IdempotencyRecord, OutboxMessage
from domain.ports import (
    AssignmentCursor,
    Clock,
    JobCursor,
    JobQueue,
    UnitOfWork,
    UnitOfWorkFactory,
)
from domain.problem import Assignment, Problem
from domain.services.outbox import SentMarks, publish_after_commit
from domain.services.retry import retry_conflicts
from domain.solver.cache_key import cache_key
from domain.tenancy import Principal

MAX_PAGE = 1000
# The relay leaves a new job's message alone this long: the API publishes it itself right
# after the commit, and the two should not both send it. A failed publish shortens the wait.
FAST_PATH_SECONDS = 10.0
# Printable ASCII without spaces, as the keys clients generate (UUIDs, ULIDs, hashes) are.
_IDEMPOTENCY_KEY = re.compile(r"[!-~]{1,255}")
# Every object sorted: the same problem sent with its keys in another order is the same request.
_canonical = msgspec.json.Encoder(order="sorted")


@dataclass(frozen=True)
class SubmitJob:
    principal: Principal
    problem: Problem
    correlation_id: str
    # The client's Idempotency-Key: a repeated request with it returns the first one's job.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Submission:
    job: Job
    # False when an earlier request with the same Idempotency-Key made the job.
    created: bool


def submit_job(
    cmd: SubmitJob,
    uow_factory: UnitOfWorkFactory,
    queue: JobQueue,
    clock: Clock,
    *,
    max_time_limit: float,
    idempotency_ttl: dt.timedelta = dt.timedelta(hours=24),
    marks: SentMarks | None = None,
) -> Submission:
    """Store a queued job and its outbox message in one transaction, then publish the message
    (never before the commit). A failed publish is not an error: the job is stored, and the
    outbox relay publishes it once the broker takes messages again."""
    if cmd.idempotency_key is not None and not _IDEMPOTENCY_KEY.fullmatch(cmd.idempotency_key):
        raise InvalidRequest(
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
            code="INVALID_IDEMPOTENCY_KEY",
        )
    # Only a request that can be replayed needs its body's hash.
    request_hash = (
        hashlib.sha256(_canonical.encode(cmd.problem)).hexdigest()
        if cmd.idempotency_key is not None
        else ""
    )
    problem = _capped(cmd.problem, max_time_limit)
    now = clock()
    job = Job(
        id=uuid.uuid4(),
        tenant_id=cmd.principal.tenant_id,
        status=JobStatus.QUEUED,
        created_at=now,
        correlation_id=cmd.correlation_id,
        cache_key=cache_key(problem),
        time_limit_seconds=problem.options.time_limit_seconds,
        name=problem.name,
    )
    message = OutboxMessage.solve_job(
        job.id, cmd.correlation_id, now, now + dt.timedelta(seconds=FAST_PATH_SECONDS)
    )

    def store() -> Submission:
        with uow_factory() as uow:
            uow.jobs.add(job, problem)
            uow.outbox.add(message)
            if cmd.idempotency_key is not None:
                record = IdempotencyRecord(
                    tenant_id=job.tenant_id,
                    key=cmd.idempotency_key,
                    request_hash=request_hash,
                    job_id=job.id,
                    created_at=now,
                )
                if not uow.idempotency.claim(record, expired_before=clock() - idempotency_ttl):
                    uow.rollback()
                    return _replay(uow, record)
            uow.commit()
        return Submission(job, created=True)

    submission = retry_conflicts(store)
    if submission.created:
        publish_after_commit(message, uow_factory, queue, clock, marks)
    return submission


def _replay(uow: UnitOfWork, record: IdempotencyRecord) -> Submission:
    """The job of the request that first used this key (it has committed)."""
    held = uow.idempotency.get(record.tenant_id, record.key)
    job = None if held is None else uow.jobs.get(held.job_id, record.tenant_id)
    if held is None or job is None:
        # Purged (expired) between our insert and this read: the key is free again.
        raise RetryableConflict("the idempotency key was released meanwhile")
    if held.request_hash != record.request_hash:
        raise Conflict(
            "this Idempotency-Key was already used with a different request body",
            code="IDEMPOTENCY_KEY_REUSED",
        )
    return Submission(job, created=False)


def _capped(problem: Problem, max_time_limit: float) -> Problem:
    """The problem with its time limit capped by the server (DESIGN.md section 3)."""
    options = problem.options
    if options.time_limit_seconds <= max_time_limit:
        return problem
    capped = msgspec.structs.replace(options, time_limit_seconds=max_time_limit)
    return msgspec.structs.replace(problem, options=capped)


def get_job(principal: Principal, job_id: uuid.UUID, uow_factory: UnitOfWorkFactory) -> Job:
    with uow_factory(read_only=True) as uow:
        job = uow.jobs.get(job_id, principal.tenant_id)
    if job is None:
        raise NotFound(f"no job {job_id}", code="JOB_NOT_FOUND")
    return job


@dataclass(frozen=True)
class JobPage:
    items: list[Job]
    next_cursor: str | None


def list_jobs(
    principal: Principal,
    uow_factory: UnitOfWorkFactory,
    *,
    status: JobStatus | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> JobPage:
    after = _decode_job_cursor(cursor) if cursor else None
    limit = _page_size(limit)
    with uow_factory(read_only=True) as uow:
        jobs = uow.jobs.list(principal.tenant_id, status=status, after=after, limit=limit + 1)
    more = len(jobs) > limit
    jobs = jobs[:limit]
    last = jobs[-1] if more else None
    next_cursor = _encode_cursor(last.created_at.isoformat(), str(last.id)) if last else None
    return JobPage(jobs, next_cursor)


def get_solution_json(
    principal: Principal, job_id: uuid.UUID, uow_factory: UnitOfWorkFactory
) -> bytes:
    """The finished job's solution, as stored JSON (DESIGN.md section 3)."""
    with uow_factory(read_only=True) as uow:
        job = uow.jobs.get(job_id, principal.tenant_id)
        if job is None:
            raise NotFound(f"no job {job_id}", code="JOB_NOT_FOUND")
        body = uow.jobs.solution_json(job_id, principal.tenant_id)
    if body is None:
        raise NotFound(
            f"job {job_id} has no solution (status {job.status})", code="SOLUTION_NOT_READY"
        )
    return body


@dataclass(frozen=True)
class AssignmentPage:
    items: list[Assignment]
    next_cursor: str | None


def list_assignments(
    principal: Principal,
    job_id: uuid.UUID,
    uow_factory: UnitOfWorkFactory,
    *,
    date: dt.date | None = None,
    employee: str | None = None,
    cursor: str | None = None,
    limit: int = 500,
) -> AssignmentPage:
    after = _decode_assignment_cursor(cursor) if cursor else None
    limit = _page_size(limit)
    with uow_factory(read_only=True) as uow:
        if uow.jobs.get(job_id, principal.tenant_id) is None:
            raise NotFound(f"no job {job_id}", code="JOB_NOT_FOUND")
        rows = uow.assignments.page(
            job_id, date=date, employee=employee, after=after, limit=limit + 1
        )
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if more else None
    next_cursor = _encode_cursor(last.date.isoformat(), last.employee, last.shift) if last else None
    return AssignmentPage(rows, next_cursor)


# --- opaque cursors ---------------------------------------------------------------------------
# A cursor is base64url of a JSON array of the last row's sort key: opaque to clients, safe for
# ids holding any character, and stable while new rows arrive (unlike offsets).

_cursor_parts = msgspec.json.Decoder(list[str])


def _page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", code="INVALID_LIMIT")
    return limit


def _encode_cursor(*parts: str) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode(parts)).decode().rstrip("=")


def _split_cursor(cursor: str, size: int) -> list[str]:
    try:
        parts = _cursor_parts.decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidRequest("malformed cursor", code="INVALID_CURSOR") from None
    if len(parts) != size:
        raise InvalidRequest("malformed cursor", code="INVALID_CURSOR")
    return parts


def _decode_job_cursor(cursor: str) -> JobCursor:
    created, job_id = _split_cursor(cursor, 2)
    try:
        return dt.datetime.fromisoformat(created), uuid.UUID(job_id)
    except ValueError:
        raise InvalidRequest("malformed cursor", code="INVALID_CURSOR") from None


def _decode_assignment_cursor(cursor: str) -> AssignmentCursor:
    date, employee, shift = _split_cursor(cursor, 3)
    try:
        return dt.date.fromisoformat(date), employee, shift
    except ValueError:
        raise InvalidRequest("malformed cursor", code="INVALID_CURSOR") from None
