"""The worker's use case: run one job from queued to a final state.

Safe to run twice for the same job (a redelivered Celery message): the start and the finish are
guarded UPDATEs (domain.ports.JobRepository), so a second run either finds the job finished and
returns, or loses the race to finish and writes nothing.

A cancel request (domain.services.cancel) is polled while the solver runs; the solve then ends
`cancelled`, with the best roster found so far stored as its solution.

Every transaction that gives the job its final state also records its webhook deliveries
(domain.services.webhooks), published after the commit.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass

import msgspec

from domain.jobs import ErrorCode, JobProgress, JobStatus, JobSummary, outcome_of
from domain.ports import Clock, ResultCache, SolveFunction, UnitOfWorkFactory
from domain.problem import Solution, encode, solution_decoder
from domain.services.webhooks import announce, record_finished_job
from domain.solver.runner import Progress
from domain.webhook_ports import DeliveryQueue

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    max_attempts: int = 3
    cache_ttl_seconds: int = 7 * 24 * 3600
    progress_interval_seconds: float = 1.0
    # How often a running solve asks the database whether it was cancelled.
    cancel_poll_seconds: float = 1.0


def run_job(
    job_id: uuid.UUID,
    uow_factory: UnitOfWorkFactory,
    cache: ResultCache,
    solve: SolveFunction,
    clock: Clock,
    settings: RunSettings,
    notify: DeliveryQueue | None = None,
) -> JobStatus | None:
    """Solve the job (or answer it from the cache) and store the outcome in one transaction.

    Returns the final status this run wrote, or None when there was nothing to do (unknown or
    already finished job, or another run finished it first).
    """
    with uow_factory() as uow:
        job = uow.jobs.get(job_id)
        if job is None or job.status.finished:
            return None
        attempt = uow.jobs.start(job_id, clock(), settings.max_attempts)
        if attempt is None:
            # Every earlier attempt died with its worker (acks_late redelivered the message).
            uow.jobs.finish(
                job_id,
                attempt=None,
                status=JobStatus.FAILED,
                now=clock(),
                error_code=ErrorCode.WORKER_LOST,
                error_detail=f"the worker was lost {settings.max_attempts} times",
            )
            notices = record_finished_job(uow, job_id, clock())
            uow.commit()
            announce(notices, notify)
            return JobStatus.FAILED
        if job.cancel_requested_at is not None:
            # Asked to stop while its earlier attempt ran, and that attempt's worker died.
            uow.jobs.finish(job_id, attempt=attempt, status=JobStatus.CANCELLED, now=clock())
            notices = record_finished_job(uow, job_id, clock())
            uow.commit()
            announce(notices, notify)
            return JobStatus.CANCELLED
        problem = uow.jobs.problem(job_id)
        uow.commit()
    assert problem is not None, "a job row always has its problem"

    started = time.monotonic()
    solution = _cached(cache, job.cache_key) if problem.options.use_cache else None
    cancel = _CancelPoll(job_id, uow_factory, settings.cancel_poll_seconds)
    if solution is None:
        reporter = _ProgressWriter(job_id, attempt, uow_factory, settings.progress_interval_seconds)
        try:
            solution = solve(problem, on_progress=reporter, should_cancel=cancel)
        except Exception:
            log.exception("solver failed on job %s", job_id)
            return _fail(job_id, attempt, uow_factory, clock, ErrorCode.SOLVER_ERROR, notify)
        fresh = True
    else:
        fresh = False
    status, error = outcome_of(solution)
    if cancel.requested or solution.stats.get("outcome") == "cancelled":
        # The roster is the best one so far, not an answer to cache.
        status, error, fresh = JobStatus.CANCELLED, None, False
    summary = JobSummary.of(solution, time.monotonic() - started)
    with uow_factory() as uow:
        if not uow.jobs.finish(
            job_id,
            attempt=attempt,
            status=status,
            now=clock(),
            summary=summary,
            solution=solution,
            error_code=error,
            error_detail=_detail(error, solution),
        ):
            log.info("job %s was finished by another run; nothing written", job_id)
            return None
        uow.assignments.add_all(job_id, solution.assignments)
        notices = record_finished_job(uow, job_id, clock())
        uow.commit()
    announce(notices, notify)
    if fresh and status is JobStatus.SUCCEEDED and problem.options.use_cache:
        cache.put(job.cache_key, encode(solution), settings.cache_ttl_seconds)
    return status


def _cached(cache: ResultCache, key: str) -> Solution | None:
    body = cache.get(key)
    if body is None:
        return None
    try:
        stored = solution_decoder.decode(body)
    except msgspec.DecodeError:
        log.warning("ignoring an undecodable cache entry %s", key)
        return None
    stats = {**stored.stats, "cached_solver": stored.solver}
    return msgspec.structs.replace(stored, solver="cache", stats=stats)


def _fail(
    job_id: uuid.UUID,
    attempt: int,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    code: ErrorCode,
    notify: DeliveryQueue | None,
) -> JobStatus | None:
    with uow_factory() as uow:
        if not uow.jobs.finish(
            job_id, attempt=attempt, status=JobStatus.FAILED, now=clock(), error_code=code
        ):
            return None
        notices = record_finished_job(uow, job_id, clock())
        uow.commit()
    announce(notices, notify)
    return JobStatus.FAILED


def _detail(error: ErrorCode | None, solution: Solution) -> str | None:
    if error is ErrorCode.INFEASIBLE:
        return "no roster satisfies every hard rule of this problem"
    if error is ErrorCode.NO_SOLUTION:
        broken = len(solution.hard_violations)
        if broken:
            return f"the best roster found breaks {broken} hard rule(s); see the solution"
        return "no roster was found within the time limit"
    return None


class _CancelPoll:
    """should_cancel callback: whether the job was asked to stop, read from the database at
    most once per `interval` seconds (the runner calls it five times a second).

    A failed read answers "not cancelled" and is tried again later: the solve must not stop,
    nor fail, because the database hiccupped.
    """

    def __init__(self, job_id: uuid.UUID, uow_factory: UnitOfWorkFactory, interval: float):
        self._job_id = job_id
        self._uow_factory = uow_factory
        self._interval = interval
        self._last = float("-inf")
        self.requested = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if self.requested or now - self._last < self._interval:
            return self.requested
        self._last = now
        try:
            with self._uow_factory(read_only=True) as uow:
                self.requested = uow.jobs.cancel_requested(self._job_id)
        except Exception:
            log.warning("could not check job %s for a cancel", self._job_id, exc_info=True)
        if self.requested:
            log.info("job %s was cancelled; stopping its solve", self._job_id)
        return self.requested


class _ProgressWriter:
    """on_progress callback: stores the latest progress at most once per `interval` seconds.

    Called from the runner's reader thread; a failed write is logged and skipped, because
    progress is advisory and must never abort a solve.
    """

    def __init__(
        self,
        job_id: uuid.UUID,
        attempt: int,
        uow_factory: UnitOfWorkFactory,
        interval: float,
    ) -> None:
        self._job_id = job_id
        self._attempt = attempt
        self._uow_factory = uow_factory
        self._interval = interval
        self._last = float("-inf")
        self._lock = threading.Lock()

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._interval:
                return
            self._last = now
        record = JobProgress(
            objective=progress.objective,
            bound=progress.bound,
            elapsed_seconds=round(progress.elapsed, 2),
            solver=progress.solver,
        )
        try:
            with self._uow_factory() as uow:
                if uow.jobs.record_progress(self._job_id, self._attempt, record):
                    uow.commit()
        except Exception:
            log.warning("could not store progress of job %s", self._job_id, exc_info=True)
