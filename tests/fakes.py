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

from domain.jobs import Job, JobProgress, JobStatus, JobSummary
from domain.ports import AssignmentCursor, JobCursor
from domain.problem import Assignment, Problem, Solution, encode
from domain.tenancy import ApiKey, Tenant


@dataclass
class Store:
    tenants: dict[uuid.UUID, Tenant] = field(default_factory=dict)
    api_keys: dict[uuid.UUID, ApiKey] = field(default_factory=dict)
    jobs: dict[uuid.UUID, Job] = field(default_factory=dict)
    problems: dict[uuid.UUID, Problem] = field(default_factory=dict)
    solutions: dict[uuid.UUID, bytes] = field(default_factory=dict)
    assignments: dict[uuid.UUID, list[Assignment]] = field(default_factory=dict)


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


class FakeUnitOfWork:
    def __init__(self, store: Store, *, read_only: bool = False) -> None:
        self._store = store
        self._read_only = read_only
        self.committed = False

    def __enter__(self) -> FakeUnitOfWork:
        self._work = copy.deepcopy(self._store)
        self.tenants = FakeTenants(self._work)
        self.api_keys = FakeApiKeys(self._work)
        self.jobs = FakeJobs(self._work)
        self.assignments = FakeAssignments(self._work)
        return self

    def __exit__(self, *exc: object) -> None:
        self.rollback()

    def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self._store.__dict__.update(copy.deepcopy(self._work).__dict__)
        self.committed = True

    def rollback(self) -> None:
        self._work = copy.deepcopy(self._store)


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
        self.broken = broken

    def enqueue_solve(self, job_id: uuid.UUID, correlation_id: str) -> None:
        if self.broken:
            raise ConnectionError("broker down")
        self.sent.append((job_id, correlation_id))


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
