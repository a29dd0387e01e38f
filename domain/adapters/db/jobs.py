"""Jobs in SQL (domain.ports.JobRepository).

State changes are single guarded UPDATEs, so two runs of the same job (a redelivered Celery
message) can never both start an attempt or both finish it: the database decides.
JSON bodies are read as text and decoded straight into Structs by msgspec, never through dicts.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import msgspec
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from domain.adapters.db.tables import jobs, outbox
from domain.jobs import FINISHED, Job, JobProgress, JobStatus, JobSummary
from domain.ports import JobCursor
from domain.problem import Problem, Solution, problem_decoder

_progress_decoder = msgspec.json.Decoder(JobProgress)
_summary_decoder = msgspec.json.Decoder(JobSummary)

_OPEN = (JobStatus.QUEUED.value, JobStatus.RUNNING.value)
_FINISHED = tuple(sorted(s.value for s in FINISHED))


def _as_text(column: sa.ColumnElement[Any]) -> sa.ColumnElement[str]:
    # jsonb::text on PostgreSQL, the stored text on SQLite: no Python objects in between.
    return sa.cast(column, sa.Text)


# Every column of a Job; the problem and solution bodies are loaded on demand only.
_JOB_COLUMNS = (
    jobs.c.id,
    jobs.c.tenant_id,
    jobs.c.status,
    jobs.c.created_at,
    jobs.c.correlation_id,
    jobs.c.cache_key,
    jobs.c.time_limit_seconds,
    jobs.c.name,
    jobs.c.attempts,
    jobs.c.started_at,
    jobs.c.finished_at,
    jobs.c.cancel_requested_at,
    _as_text(jobs.c.progress).label("progress"),
    _as_text(jobs.c.summary).label("summary"),
    jobs.c.error_code,
    jobs.c.error_detail,
)

# The statements of the hot paths (submit, poll) are built once with bound parameters:
# building one per call costs more Python than running it (coercing every value, then a
# cache key to find the compiled form), about a millisecond per submit.
_INSERT_JOB = jobs.insert()
_GET_JOB = sa.select(*_JOB_COLUMNS).where(jobs.c.id == sa.bindparam("job_id"))
_GET_TENANT_JOB = _GET_JOB.where(jobs.c.tenant_id == sa.bindparam("tenant_id"))


class SqlJobs:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, job: Job, problem: Problem) -> None:
        self._conn.execute(
            _INSERT_JOB,
            {
                "id": job.id,
                "tenant_id": job.tenant_id,
                "status": job.status.value,
                "attempts": job.attempts,
                "name": job.name,
                "correlation_id": job.correlation_id,
                "cache_key": job.cache_key,
                "time_limit_seconds": job.time_limit_seconds,
                "problem": problem,
                "options": problem.options,
                "progress": job.progress,
                "summary": job.summary,
                "error_code": job.error_code,
                "error_detail": job.error_detail,
                "created_at": job.created_at,
                "started_at": job.started_at,
                "finished_at": job.finished_at,
                "cancel_requested_at": job.cancel_requested_at,
            },
        )

    def get(self, job_id: uuid.UUID, tenant_id: uuid.UUID | None = None) -> Job | None:
        if tenant_id is None:
            row = self._conn.execute(_GET_JOB, {"job_id": job_id}).first()
        else:
            row = self._conn.execute(
                _GET_TENANT_JOB, {"job_id": job_id, "tenant_id": tenant_id}
            ).first()
        return None if row is None else _job(row)

    def list(
        self,
        tenant_id: uuid.UUID,
        *,
        status: JobStatus | None,
        after: JobCursor | None,
        limit: int,
    ) -> list[Job]:
        query = sa.select(*_JOB_COLUMNS).where(jobs.c.tenant_id == tenant_id)
        if status is not None:
            query = query.where(jobs.c.status == status.value)
        if after is not None:
            # Keyset: a row comparison the (tenant_id, [status,] created_at, id) index serves.
            query = query.where(
                sa.tuple_(jobs.c.created_at, jobs.c.id)
                < sa.tuple_(
                    sa.literal(after[0], jobs.c.created_at.type),
                    sa.literal(after[1], jobs.c.id.type),
                )
            )
        query = query.order_by(jobs.c.created_at.desc(), jobs.c.id.desc()).limit(limit)
        return [_job(row) for row in self._conn.execute(query)]

    def problem(self, job_id: uuid.UUID) -> Problem | None:
        text = self._conn.execute(
            sa.select(_as_text(jobs.c.problem)).where(jobs.c.id == job_id)
        ).scalar_one_or_none()
        return None if text is None else problem_decoder.decode(text)

    def solution_json(self, job_id: uuid.UUID, tenant_id: uuid.UUID) -> bytes | None:
        text = self._conn.execute(
            sa.select(_as_text(jobs.c.solution)).where(
                jobs.c.id == job_id, jobs.c.tenant_id == tenant_id
            )
        ).scalar_one_or_none()
        return None if text is None else text.encode()

    def start(self, job_id: uuid.UUID, now: dt.datetime, max_attempts: int) -> int | None:
        return self._conn.execute(
            jobs.update()
            .where(
                jobs.c.id == job_id,
                jobs.c.status.in_(_OPEN),
                jobs.c.attempts < max_attempts,
            )
            .values(status=JobStatus.RUNNING.value, attempts=jobs.c.attempts + 1, started_at=now)
            .returning(jobs.c.attempts)
        ).scalar_one_or_none()

    def record_progress(self, job_id: uuid.UUID, attempt: int, progress: JobProgress) -> bool:
        result = self._conn.execute(
            jobs.update()
            .where(
                jobs.c.id == job_id,
                jobs.c.status == JobStatus.RUNNING.value,
                jobs.c.attempts == attempt,
            )
            .values(progress=progress)
        )
        return result.rowcount == 1

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
        guard = [jobs.c.id == job_id, jobs.c.status.in_(_OPEN)]
        if attempt is not None:
            guard += [jobs.c.status == JobStatus.RUNNING.value, jobs.c.attempts == attempt]
        values: dict[str, Any] = {
            "status": status.value,
            "finished_at": now,
            "summary": summary,
            "error_code": error_code,
            "error_detail": error_detail,
        }
        if solution is not None:
            values["solution"] = solution
        result = self._conn.execute(jobs.update().where(*guard).values(**values))
        return result.rowcount == 1

    def cancel_queued(self, job_id: uuid.UUID, now: dt.datetime) -> bool:
        result = self._conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status == JobStatus.QUEUED.value)
            .values(status=JobStatus.CANCELLED.value, finished_at=now, cancel_requested_at=now)
        )
        return result.rowcount == 1

    def request_cancel(self, job_id: uuid.UUID, now: dt.datetime) -> bool:
        result = self._conn.execute(
            jobs.update()
            .where(jobs.c.id == job_id, jobs.c.status == JobStatus.RUNNING.value)
            .values(
                cancel_requested_at=sa.func.coalesce(
                    jobs.c.cancel_requested_at, sa.literal(now, jobs.c.cancel_requested_at.type)
                )
            )
        )
        return result.rowcount == 1

    def cancel_requested(self, job_id: uuid.UUID) -> bool:
        # The primary key lookup of one column: cheap enough to poll every second.
        when = self._conn.execute(
            sa.select(jobs.c.cancel_requested_at).where(jobs.c.id == job_id)
        ).scalar_one_or_none()
        return when is not None

    def stuck(self, status: JobStatus, before: dt.datetime, limit: int) -> list[Job]:
        since = jobs.c.started_at if status is JobStatus.RUNNING else jobs.c.created_at
        pending = sa.exists().where(
            outbox.c.job_id == jobs.c.id,
            sa.or_(outbox.c.sent_at.is_(None), outbox.c.created_at >= before),
        )
        query = (
            sa.select(*_JOB_COLUMNS)
            .where(jobs.c.status == status.value, since < before, ~pending)
            .order_by(since)
            .limit(limit)
        )
        return [_job(row) for row in self._conn.execute(query)]

    def purge_finished(self, before: dt.datetime, limit: int) -> int:
        # Assignments, outbox messages and idempotency keys go with the job (ON DELETE
        # CASCADE); a batch per transaction keeps each one's locks short.
        ids = (
            sa.select(jobs.c.id)
            .where(jobs.c.status.in_(_FINISHED), jobs.c.finished_at < before)
            .order_by(jobs.c.finished_at)
            .limit(limit)
            .scalar_subquery()
        )
        return self._conn.execute(jobs.delete().where(jobs.c.id.in_(ids))).rowcount


def _job(row: Row) -> Job:
    return Job(
        id=row.id,
        tenant_id=row.tenant_id,
        status=JobStatus(row.status),
        created_at=row.created_at,
        correlation_id=row.correlation_id,
        cache_key=row.cache_key,
        time_limit_seconds=row.time_limit_seconds,
        name=row.name,
        attempts=row.attempts,
        started_at=row.started_at,
        finished_at=row.finished_at,
        cancel_requested_at=row.cancel_requested_at,
        progress=None if row.progress is None else _progress_decoder.decode(row.progress),
        summary=None if row.summary is None else _summary_decoder.decode(row.summary),
        error_code=row.error_code,
        error_detail=row.error_detail,
    )
