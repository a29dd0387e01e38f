"""The wire types of the HTTP API (responses), and the conversion from domain records.

They are separate from the domain records on purpose: a column added to a job must not leak
into the public contract by accident. Controllers call the `*_view` functions and return the
Structs; Litestar encodes them with msgspec and documents them in the OpenAPI schema.
"""

from __future__ import annotations

import datetime as dt
import uuid

import msgspec

from domain.jobs import Job, JobStatus
from domain.problem import Assignment
from domain.services.jobs import AssignmentPage, JobPage

JOBS_PATH = "/v1/jobs"


class Wire(msgspec.Struct, kw_only=True):
    """Shared options of the response types: every field is always present (null when
    unknown), so clients can rely on the shape."""


class ProgressView(Wire):
    objective: int | None
    bound: int | None
    elapsed_seconds: float
    solver: str | None


class SummaryView(Wire):
    status: str
    solver: str
    objective: int | None
    lower_bound: int | None
    penalties: dict[str, int]
    hard_violations: int
    assignments: int
    solve_seconds: float


class JobErrorView(Wire):
    code: str
    detail: str | None


class JobLinks(Wire):
    self_: str = msgspec.field(name="self")
    solution: str | None
    assignments: str | None


class JobView(Wire):
    id: uuid.UUID
    name: str | None
    status: JobStatus
    attempts: int
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    # When a cancel was asked for (POST .../cancel); a running job stops within seconds.
    cancel_requested_at: dt.datetime | None
    time_limit_seconds: float
    correlation_id: str
    progress: ProgressView | None
    summary: SummaryView | None
    error: JobErrorView | None
    links: JobLinks


class JobList(Wire):
    items: list[JobView]
    next_cursor: str | None


class AssignmentList(Wire):
    job_id: uuid.UUID
    items: list[Assignment]
    next_cursor: str | None


class HealthView(Wire):
    status: str
    checks: dict[str, str] = {}


class FieldIssue(Wire):
    path: str
    code: str
    message: str


class ProblemDetails(msgspec.Struct, kw_only=True, omit_defaults=True):
    """An RFC 9457 problem document (`application/problem+json`)."""

    type: str
    title: str
    status: int
    detail: str
    code: str  # stable UPPER_SNAKE, what clients switch on
    correlation_id: str  # the request id: quote it when asking for support
    errors: list[FieldIssue] | None = None  # every issue of a 400 or 422
    checks: dict[str, str] | None = None  # readiness checks of a 503 NOT_READY


def job_path(job_id: uuid.UUID) -> str:
    return f"{JOBS_PATH}/{job_id}"


def job_view(job: Job) -> JobView:
    path = job_path(job.id)
    has_solution = job.status.finished and job.summary is not None
    progress = job.progress if job.status is JobStatus.RUNNING else None
    summary = job.summary if job.status.finished else None
    return JobView(
        id=job.id,
        name=job.name,
        status=job.status,
        attempts=job.attempts,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        cancel_requested_at=job.cancel_requested_at,
        time_limit_seconds=job.time_limit_seconds,
        correlation_id=job.correlation_id,
        progress=None
        if progress is None
        else ProgressView(
            objective=progress.objective,
            bound=progress.bound,
            elapsed_seconds=progress.elapsed_seconds,
            solver=progress.solver,
        ),
        summary=None
        if summary is None
        else SummaryView(
            status=summary.status,
            solver=summary.solver,
            objective=summary.objective,
            lower_bound=summary.lower_bound,
            penalties=summary.penalties,
            hard_violations=summary.hard_violations,
            assignments=summary.assignments,
            solve_seconds=summary.solve_seconds,
        ),
        error=JobErrorView(code=job.error_code, detail=job.error_detail)
        if job.status is JobStatus.FAILED and job.error_code
        else None,
        links=JobLinks(
            self_=path,
            solution=f"{path}/solution" if has_solution else None,
            assignments=f"{path}/assignments" if has_solution else None,
        ),
    )


def job_list(page: JobPage) -> JobList:
    return JobList(items=[job_view(job) for job in page.items], next_cursor=page.next_cursor)


def assignment_list(job_id: uuid.UUID, page: AssignmentPage) -> AssignmentList:
    return AssignmentList(job_id=job_id, items=page.items, next_cursor=page.next_cursor)
