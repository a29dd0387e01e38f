"""A solve job: its states, its progress while running and the summary kept when it ends.

These are records of the service, not of the solver: they know nothing of databases or HTTP,
and they are msgspec Structs so the adapters can store them as JSON and the API can render them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import StrEnum

import msgspec

from domain.problem import Solution


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in FINISHED


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED})


class ErrorCode(StrEnum):
    """Why a job failed; stable, clients may switch on them."""

    INFEASIBLE = "INFEASIBLE"  # the solver proved that no roster meets every hard rule
    NO_SOLUTION = "NO_SOLUTION"  # the time ran out before any valid roster was found
    WORKER_LOST = "WORKER_LOST"  # the worker died `max_attempts` times on this job
    SOLVER_ERROR = "SOLVER_ERROR"  # an unexpected failure; details are in the logs


class JobProgress(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The latest progress report of a running solve."""

    objective: int | None = None
    bound: int | None = None
    elapsed_seconds: float = 0.0
    solver: str | None = None


class JobSummary(msgspec.Struct, kw_only=True):
    """What a finished job's solution amounts to, without its assignments."""

    status: str  # the solution's status: optimal | feasible | infeasible | unknown
    solver: str  # cp-sat | heuristic | cache
    objective: int | None
    lower_bound: int | None
    penalties: dict[str, int]
    hard_violations: int
    assignments: int
    solve_seconds: float

    @classmethod
    def of(cls, solution: Solution, solve_seconds: float) -> JobSummary:
        return cls(
            status=solution.status,
            solver=solution.solver,
            objective=solution.objective,
            lower_bound=solution.lower_bound,
            penalties=msgspec.structs.asdict(solution.penalties),
            hard_violations=len(solution.hard_violations),
            assignments=len(solution.assignments),
            solve_seconds=round(solve_seconds, 3),
        )


class Job(msgspec.Struct, kw_only=True):
    """One job row without its problem and solution bodies (those are loaded on demand)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    status: JobStatus
    created_at: dt.datetime
    correlation_id: str
    cache_key: str
    time_limit_seconds: float
    name: str | None = None
    attempts: int = 0
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    # Set by POST /v1/jobs/{id}/cancel on a running job; the solve stops within seconds.
    cancel_requested_at: dt.datetime | None = None
    progress: JobProgress | None = None
    summary: JobSummary | None = None
    error_code: str | None = None
    error_detail: str | None = None


def outcome_of(solution: Solution) -> tuple[JobStatus, ErrorCode | None]:
    """The final status of a job whose solve returned `solution`.

    A roster with a broken hard rule is never reported as a success, whatever the solver said.
    """
    if solution.status in ("optimal", "feasible") and not solution.hard_violations:
        return JobStatus.SUCCEEDED, None
    if solution.status == "infeasible":
        return JobStatus.FAILED, ErrorCode.INFEASIBLE
    return JobStatus.FAILED, ErrorCode.NO_SOLUTION
