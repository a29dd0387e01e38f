"""A Rota API on in-memory fakes, for the tests of api/ (tests/unit/test_api_*.py).

`ApiHarness` owns the fake store, queue and clock, two tenants with a key each (plus a revoked
key of tenant A), and a Litestar TestClient of `create_app(ApiDeps(...))` on those fakes.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import msgspec
from litestar.testing import TestClient

from api.app import create_app
from api.deps import ApiDeps
from domain.jobs import Job, JobStatus, JobSummary
from domain.problem import Assignment, Penalties, Solution, problem_decoder
from domain.services.tenants import create_api_key, create_tenant
from domain.settings import Settings
from domain.tenancy import Role
from tests.fakes import FakeQueue, FakeUnitOfWork, FixedClock, Store

SAMPLE_PATH = Path(__file__).parents[2] / "domain" / "samples" / "sample.json"
SAMPLE = SAMPLE_PATH.read_bytes()
PROBLEM_JSON = "application/problem+json"
PROBLEM_KEYS = {"type", "title", "status", "detail", "code", "correlation_id"}


class ApiHarness:
    def __init__(self, *, settings: Settings | None = None, **deps: Any) -> None:
        self.store = Store()
        self.queue = FakeQueue()
        self.clock = FixedClock()
        self.settings = settings or Settings()
        self.tenant_a = create_tenant("tenant-a", self.uow_factory, self.clock)
        self.tenant_b = create_tenant("tenant-b", self.uow_factory, self.clock)
        # Admin keys, so the tests of every route can use them; role limits are tested with
        # keys and users of the other roles (tests/unit/test_api_roles.py).
        self.key_a = self.issue_key("tenant-a", Role.ADMIN)
        self.key_b = self.issue_key("tenant-b", Role.ADMIN)
        revoked = create_api_key("tenant-a", self.uow_factory, self.clock)
        self.store.api_keys[revoked.key.id] = msgspec.structs.replace(
            revoked.key, revoked_at=self.clock()
        )
        self.revoked_key = revoked.secret
        self.deps = ApiDeps(
            settings=self.settings,
            uow_factory=self.uow_factory,
            queue=self.queue,
            clock=self.clock,
            **deps,
        )
        self.client = TestClient(create_app(self.deps))

    def issue_key(self, tenant: str, role: Role) -> str:
        return create_api_key(tenant, self.uow_factory, self.clock, role=role).secret

    def uow_factory(self, *, read_only: bool = False) -> FakeUnitOfWork:
        return FakeUnitOfWork(self.store, read_only=read_only)

    def __enter__(self) -> ApiHarness:
        self.client.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.__exit__(*exc)

    def with_deps(self, **changes: Any) -> TestClient:
        """A second client on the same fakes with some ApiDeps replaced (not yet entered)."""
        return TestClient(create_app(replace(self.deps, **changes)))

    # --- requests ---------------------------------------------------------------------------

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def get(self, path: str, *, key: str | None = None, **kwargs: Any) -> Any:
        headers = {**self.auth(key or self.key_a), **kwargs.pop("headers", {})}
        return self.client.get(path, headers=headers, **kwargs)

    def submit(self, body: bytes = SAMPLE, *, key: str | None = None, **headers: str) -> Any:
        return self.client.post(
            "/v1/jobs",
            content=body,
            headers={
                **self.auth(key or self.key_a),
                "Content-Type": "application/json",
                **headers,
            },
        )

    # --- jobs in the store ------------------------------------------------------------------

    def add_job(self, tenant_id: uuid.UUID, status: JobStatus = JobStatus.QUEUED) -> Job:
        """A job stored directly (as another process would), created now by the clock."""
        job = Job(
            id=uuid.uuid4(),
            tenant_id=tenant_id,
            status=status,
            created_at=self.clock(),
            correlation_id="seeded-0001",
            cache_key="k",
            time_limit_seconds=10.0,
        )
        with self.uow_factory() as uow:
            uow.jobs.add(job, problem_decoder.decode(SAMPLE))
            uow.commit()
        return job

    def finish_job(self, job_id: uuid.UUID, assignments: list[Assignment]) -> Solution:
        """Run the job's row through start -> finish as a worker would, storing a solution."""
        solution = Solution(
            status="optimal",
            objective=7,
            lower_bound=7,
            solver="cp-sat",
            assignments=assignments,
            penalties=Penalties(cover_under=7),
        )
        with self.uow_factory() as uow:
            attempt = uow.jobs.start(job_id, self.clock(), max_attempts=3)
            assert uow.jobs.finish(
                job_id,
                attempt=attempt,
                status=JobStatus.SUCCEEDED,
                now=self.clock(),
                summary=JobSummary.of(solution, 1.5),
                solution=solution,
            )
            uow.assignments.add_all(job_id, assignments)
            uow.commit()
        return solution


def roster(days: int, employees: list[str]) -> list[Assignment]:
    """One early shift per employee per day from 2025-03-03."""
    start = dt.date(2025, 3, 3)
    return [
        Assignment(employee=e, date=start + dt.timedelta(days=d), shift="E")
        for d in range(days)
        for e in employees
    ]


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 document with this status and code; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body = response.json()
    assert body.keys() >= PROBLEM_KEYS, body
    assert body["status"] == status
    assert body["code"] == code
    assert body["correlation_id"] == response.headers["x-request-id"]
    return body
