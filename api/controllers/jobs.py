"""`/v1/jobs`: submit a problem, follow the job, read its roster (DESIGN.md section 4).

Thin handlers (STYLE.md 4): parse what HTTP gives, call one use case, return a view. They are
sync and run in Litestar's thread pool, because the use cases and the SQL unit of work are
synchronous.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated

from anyio import to_thread
from litestar import Controller, Response, get, post
from litestar.openapi import ResponseSpec
from litestar.params import HeaderParameter, Parameter, RawBody

from api.content_type import require_json
from api.deps import Caller, Deps, RequestId
from api.guards import can_cancel, can_submit
from api.openapi import API_KEY_SECURITY, ProblemBodyOperation, problem_responses
from api.schemas import (
    JOBS_PATH,
    AssignmentList,
    JobList,
    JobView,
    assignment_list,
    job_list,
    job_path,
    job_view,
)
from domain.errors import NotFound
from domain.jobs import JobStatus
from domain.problem import MAX_ID_LENGTH, Solution
from domain.services import jobs as service
from domain.services.cancel import cancel_job
from domain.validation import decode_problem

_AUTH = {
    401: "UNAUTHORIZED: the access token or API key is missing, invalid or revoked.",
    500: "INTERNAL_ERROR: an unexpected failure; it is logged under the correlation_id.",
}
_FORBIDDEN = {403: "FORBIDDEN: role viewer may read jobs, not submit or cancel them."}
_JOB_NOT_FOUND = {404: "JOB_NOT_FOUND: no job with this id in the caller's tenant."}
_UNAVAILABLE = {
    503: "SERVICE_UNAVAILABLE or TRANSACTION_CONFLICT: the database is unreachable or busy; "
    "retry after the `Retry-After` seconds."
}
# Litestar documents a 400 in its own format for every handler with parameters; this
# replaces it with what is really sent.
_BAD_PARAMETER = {400: "INVALID_REQUEST: a malformed parameter."}
_BAD_PAGE = {400: "INVALID_REQUEST, INVALID_CURSOR or INVALID_LIMIT: a bad query parameter."}

JobId = Annotated[str, Parameter(description="The job's id (a UUID).")]
Cursor = Annotated[
    str | None, Parameter(description="`next_cursor` of the previous page.", max_length=512)
]
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        description="A key of the client's choosing (1-255 printable ASCII characters). A "
        "request repeated with the same key and body returns the first request's job (200) "
        "instead of making another; the same key with another body answers 409. Keys are "
        "kept 24 hours (ROTA_IDEMPOTENCY_TTL_HOURS).",
    ),
]


def parse_job_id(text: str) -> uuid.UUID:
    """A malformed id names no job: it answers the same 404 as a missing one."""
    try:
        return uuid.UUID(text)
    except ValueError:
        raise NotFound(f"no job {text[:100]}", code="JOB_NOT_FOUND") from None


class JobController(Controller):
    path = JOBS_PATH
    tags = ["jobs"]
    security = API_KEY_SECURITY

    @post(
        "/",
        operation_id="submitJob",
        summary="Submit a scheduling problem",
        description=(
            "Validates the problem, stores a queued job and enqueues its solve. Answers 202 "
            "with the job and its `Location`; poll it until `status` is final. The request "
            "id (`X-Request-ID`) becomes the job's `correlation_id`. With an "
            "`Idempotency-Key` that was already used with the same body, answers 200 with the "
            "job that first request made."
        ),
        status_code=202,
        # The role first: a viewer is told 403 whatever the body's type.
        guards=[can_submit, require_json],
        sync_to_thread=True,
        operation_class=ProblemBodyOperation,
        responses={
            200: ResponseSpec(
                data_container=JobView,
                description="An earlier request with this Idempotency-Key and body made the job.",
                generate_examples=False,
            ),
            **problem_responses(
                {
                    **_AUTH,
                    **_FORBIDDEN,
                    400: "INVALID_IDEMPOTENCY_KEY: the Idempotency-Key header is malformed.",
                    409: "IDEMPOTENCY_KEY_REUSED: the Idempotency-Key was used with another body.",
                    413: "PAYLOAD_TOO_LARGE: the body exceeds the server's limit.",
                    415: "UNSUPPORTED_MEDIA_TYPE: the body is not `application/json`.",
                    422: "VALIDATION_FAILED: `errors` lists every issue with its JSON path.",
                    **_UNAVAILABLE,
                }
            ),
        },
    )
    def submit_job(
        self,
        body: RawBody,
        deps: Deps,
        principal: Caller,
        request_id: RequestId,
        idempotency_key: IdempotencyKey = None,
    ) -> Response[JobView]:
        problem = decode_problem(body)
        submission = service.submit_job(
            service.SubmitJob(
                principal=principal,
                problem=problem,
                correlation_id=request_id,
                idempotency_key=idempotency_key,
            ),
            deps.uow_factory,
            deps.queue,
            deps.clock,
            max_time_limit=deps.settings.max_time_limit_seconds,
            idempotency_ttl=dt.timedelta(hours=deps.settings.idempotency_ttl_hours),
            marks=deps.sent_marks,
        )
        job = submission.job
        return Response(
            job_view(job),
            status_code=202 if submission.created else 200,
            headers={"Location": job_path(job.id)},
        )

    @post(
        "/{job_id:str}/cancel",
        operation_id="cancelJob",
        summary="Cancel a job",
        description=(
            "A queued job is cancelled at once and never starts (200). A running job is asked "
            "to stop (202): within a few seconds it ends `cancelled`, with the best roster "
            "found so far as its solution. A finished job cannot be cancelled (409)."
        ),
        status_code=202,
        guards=[can_cancel],
        sync_to_thread=True,
        responses={
            200: ResponseSpec(
                data_container=JobView,
                description="The job was queued and is now cancelled.",
                generate_examples=False,
            ),
            **problem_responses(
                {
                    **_AUTH,
                    **_FORBIDDEN,
                    **_BAD_PARAMETER,
                    **_JOB_NOT_FOUND,
                    409: "JOB_FINISHED: the job has already finished.",
                    **_UNAVAILABLE,
                }
            ),
        },
    )
    def cancel_job(self, job_id: JobId, deps: Deps, principal: Caller) -> Response[JobView]:
        wanted = parse_job_id(job_id)
        try:
            result = cancel_job(principal, wanted, deps.uow_factory, deps.clock)
        finally:
            # Read back at once by this caller's next GET, before the change feed says so;
            # also after a 409 (the job finished meanwhile: this process may hold it live).
            deps.job_views.changed(wanted)
        return Response(job_view(result.job), status_code=200 if result.immediate else 202)

    @get(
        "/",
        operation_id="listJobs",
        summary="List jobs, newest first",
        description="One page of the caller's jobs; pass `next_cursor` back to get the next.",
        sync_to_thread=True,
        responses=problem_responses({**_AUTH, **_BAD_PAGE, **_UNAVAILABLE}),
    )
    def list_jobs(
        self,
        deps: Deps,
        principal: Caller,
        status: Annotated[
            JobStatus | None, Parameter(description="Only jobs in this status.")
        ] = None,
        cursor: Cursor = None,
        limit: Annotated[int, Parameter(ge=1, le=service.MAX_PAGE)] = 50,
    ) -> JobList:
        page = service.list_jobs(
            principal, deps.uow_factory, status=status, cursor=cursor, limit=limit
        )
        return job_list(page)

    @get(
        "/{job_id:str}",
        operation_id="getJob",
        summary="Get a job",
        description=(
            "Status, attempts and timestamps; `progress` while running (best objective, "
            "bound), `summary` once finished, `error` when failed."
        ),
        responses=problem_responses({**_AUTH, **_BAD_PARAMETER, **_JOB_NOT_FOUND, **_UNAVAILABLE}),
    )
    async def get_job(self, job_id: JobId, deps: Deps, principal: Caller) -> JobView:
        # Async so that a cached view (api/job_views.py) is answered on the event loop; only
        # a miss goes to the thread pool for the (synchronous) query.
        tenant_id, wanted = principal.tenant_id, parse_job_id(job_id)
        if (view := deps.job_views.get(tenant_id, wanted)) is not None:
            return view
        version = deps.job_views.version()
        job = await to_thread.run_sync(service.get_job, principal, wanted, deps.uow_factory)
        view = job_view(job)
        deps.job_views.put(tenant_id, wanted, view, finished=job.status.finished, version=version)
        return view

    @get(
        "/{job_id:str}/solution",
        operation_id="getJobSolution",
        summary="Get a finished job's solution",
        description="The solution document as stored (DESIGN.md section 3).",
        sync_to_thread=True,
        responses=problem_responses(
            {
                **_AUTH,
                **_BAD_PARAMETER,
                404: "JOB_NOT_FOUND: no such job; SOLUTION_NOT_READY: the job has no solution "
                "(yet).",
                **_UNAVAILABLE,
            }
        ),
    )
    def get_solution(self, job_id: JobId, deps: Deps, principal: Caller) -> Response[Solution]:
        body = service.get_solution_json(principal, parse_job_id(job_id), deps.uow_factory)
        # The stored bytes as they are: no decode and re-encode of a large roster.
        return Response(body, media_type="application/json")

    @get(
        "/{job_id:str}/assignments",
        operation_id="listJobAssignments",
        summary="Page through a job's roster",
        description="Assignments ordered by (date, employee), optionally for one date or one "
        "employee.",
        sync_to_thread=True,
        responses=problem_responses({**_AUTH, **_BAD_PAGE, **_JOB_NOT_FOUND, **_UNAVAILABLE}),
    )
    def list_assignments(
        self,
        job_id: JobId,
        deps: Deps,
        principal: Caller,
        date: Annotated[dt.date | None, Parameter(description="Only this date.")] = None,
        employee: Annotated[
            str | None, Parameter(description="Only this employee.", max_length=MAX_ID_LENGTH)
        ] = None,
        cursor: Cursor = None,
        limit: Annotated[int, Parameter(ge=1, le=service.MAX_PAGE)] = 500,
    ) -> AssignmentList:
        job = parse_job_id(job_id)
        page = service.list_assignments(
            principal,
            job,
            deps.uow_factory,
            date=date,
            employee=employee,
            cursor=cursor,
            limit=limit,
        )
        return assignment_list(job, page)
