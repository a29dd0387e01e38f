"""Use cases of the jobs API: submit, read, list, and page through a roster.

Plain functions of (command, unit of work factory, collaborators), as STYLE.md 2: no Litestar or
Celery object crosses into here. The API decodes and validates the problem before calling
`submit_job` (domain.validation.decode_problem), so a Problem here is always valid.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import logging
import uuid
from dataclasses import dataclass

import msgspec

from domain.errors import InvalidRequest, NotFound
from domain.jobs import Job, JobStatus
from domain.ports import AssignmentCursor, Clock, JobCursor, JobQueue, UnitOfWorkFactory
from domain.problem import Assignment, Problem
from domain.solver.cache_key import cache_key
from domain.tenancy import Principal

log = logging.getLogger(__name__)

MAX_PAGE = 1000


@dataclass(frozen=True)
class SubmitJob:
    principal: Principal
    problem: Problem
    correlation_id: str


def submit_job(
    cmd: SubmitJob,
    uow_factory: UnitOfWorkFactory,
    queue: JobQueue,
    clock: Clock,
    *,
    max_time_limit: float,
) -> Job:
    """Store a queued job, commit, then publish its solve task (never before the commit)."""
    problem = _capped(cmd.problem, max_time_limit)
    job = Job(
        id=uuid.uuid4(),
        tenant_id=cmd.principal.tenant_id,
        status=JobStatus.QUEUED,
        created_at=clock(),
        correlation_id=cmd.correlation_id,
        cache_key=cache_key(problem),
        time_limit_seconds=problem.options.time_limit_seconds,
        name=problem.name,
    )
    with uow_factory() as uow:
        uow.jobs.add(job, problem)
        uow.commit()
    try:
        queue.enqueue_solve(job.id, cmd.correlation_id)
    except Exception:
        # The job is safely stored as queued; it is not lost, only late. (The transactional
        # outbox of DESIGN.md section 2 will republish it; until then an operator can.)
        log.exception("could not publish job %s; it stays queued", job.id)
    return job


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
