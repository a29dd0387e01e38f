"""Builders of the records the SQL integration tests store: tenants, keys, jobs, rosters."""

from __future__ import annotations

import datetime as dt
import uuid

from domain.jobs import Job, JobStatus
from domain.problem import (
    Assignment,
    Cover,
    Employee,
    Horizon,
    Options,
    Penalties,
    Problem,
    ShiftType,
    Solution,
)
from domain.tenancy import ApiKey, Role, Tenant, hash_api_key, key_prefix, new_api_key

T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)


def tenant() -> Tenant:
    return Tenant(id=uuid.uuid4(), name=f"tenant-{uuid.uuid4().hex[:12]}", created_at=T0)


def api_key(tenant_id: uuid.UUID, **fields: object) -> ApiKey:
    secret = new_api_key()
    values: dict = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "prefix": key_prefix(secret),
        "key_hash": hash_api_key(secret),
        "role": Role.PLANNER,
        "created_at": T0,
        "name": "ci",
    }
    return ApiKey(**(values | fields))


def problem(*, days: int = 3, employees: int = 2, time_limit: float = 7.5) -> Problem:
    return Problem(
        name="ward 7",
        horizon=Horizon(start=dt.date(2026, 3, 2), days=days),
        shift_types=[
            ShiftType(id="E", duration_minutes=480, start_time="06:00"),
            ShiftType(id="L", duration_minutes=480, forbidden_next=["E"]),
        ],
        employees=[Employee(id=f"e{i:02d}", max_shifts={"L": 2}) for i in range(employees)],
        cover=[
            Cover(
                date=dt.date(2026, 3, 2), shift="E", requirement=1, under_weight=100, over_weight=1
            )
        ],
        options=Options(time_limit_seconds=time_limit, seed=7),
    )


def job(tenant_id: uuid.UUID, *, created_at: dt.datetime = T0, **fields: object) -> Job:
    values: dict = {
        "id": uuid.uuid4(),
        "tenant_id": tenant_id,
        "status": JobStatus.QUEUED,
        "created_at": created_at,
        "correlation_id": "req-1",
        "cache_key": f"rota:solution:v1:{uuid.uuid4().hex}",
        "time_limit_seconds": 7.5,
        "name": "ward 7",
    }
    return Job(**(values | fields))


def solution(assignments: list[Assignment] | None = None) -> Solution:
    return Solution(
        status="feasible",
        objective=101,
        lower_bound=90,
        solver="cp-sat",
        assignments=assignments
        if assignments is not None
        else [Assignment(employee="e00", date=dt.date(2026, 3, 2), shift="E")],
        penalties=Penalties(cover_under=100, requests_on=1),
        stats={"branches": 12, "wall": 0.25, "note": "naïve ✓"},
    )


def roster(*, days: int, employees: int, start: dt.date = dt.date(2026, 3, 2)) -> list[Assignment]:
    """One shift per person per day, employees given in reverse order (storage must sort)."""
    return [
        Assignment(employee=f"e{e:05d}", date=start + dt.timedelta(days=d), shift="EL"[(d + e) % 2])
        for d in range(days)
        for e in reversed(range(employees))
    ]
