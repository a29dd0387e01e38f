"""Hostile strings as ids and names round-trip through the API and the real PostgreSQL
unchanged (issue 4: "All SQL through bound parameters"): quotes, `; DROP TABLE`, LIKE
wildcards, backslashes, right-to-left marks and emoji are data, never SQL."""

from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa
from litestar.testing import TestClient

from api.app import create_app
from api.deps import ApiDeps
from domain.adapters.container import utc_now
from domain.adapters.db import sql_uow_factory
from domain.jobs import JobStatus, JobSummary
from domain.problem import Assignment, Penalties, Solution
from domain.services.tenants import create_api_key, create_tenant
from domain.settings import Settings
from tests.fakes import FakeQueue
from tests.unit.api_support import SAMPLE

pytestmark = pytest.mark.integration

HOSTILE = [
    "'; DROP TABLE jobs; --",
    'Robert"); DROP TABLE tenants;--',
    "%' OR '1'='1",
    "50%_off\\",
    "Zoë \u202e😀 $$ $1",
]


@pytest.fixture
def api(db_engine):
    uow = sql_uow_factory(db_engine)
    tenant = "tenant '; DROP TABLE tenants; -- " + uuid.uuid4().hex[:6]
    create_tenant(tenant, uow, utc_now)
    key = create_api_key(tenant, uow, utc_now).secret
    deps = ApiDeps(settings=Settings(), uow_factory=uow, queue=FakeQueue(), clock=utc_now)
    with TestClient(create_app(deps)) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        yield client, uow


def hostile_problem() -> dict:
    doc = json.loads(SAMPLE)
    ids = {e["id"]: HOSTILE[i % len(HOSTILE)] + f"#{i}" for i, e in enumerate(doc["employees"])}
    for e in doc["employees"]:
        e["id"], e["name"] = ids[e["id"]], "O'Brien; DROP TABLE users; -- \\ 😀"
    doc["requests"] = [{**r, "employee": ids[r["employee"]]} for r in doc.get("requests", [])]
    doc["name"] = HOSTILE[0]
    return doc


def test_hostile_ids_and_names_round_trip(api, db_engine):
    client, uow = api
    doc = hostile_problem()
    submitted = client.post("/v1/jobs", json=doc)
    assert submitted.status_code == 202, submitted.text
    job_id = uuid.UUID(submitted.json()["id"])
    assert submitted.json()["name"] == HOSTILE[0]

    employees = [e["id"] for e in doc["employees"]]
    roster = [Assignment(employee=e, date=doc["horizon"]["start"], shift="E") for e in employees]
    solution = Solution(
        status="optimal", objective=0, lower_bound=0, solver="cp-sat",
        assignments=roster, penalties=Penalties(),
    )  # fmt: skip
    with uow() as w:
        attempt = w.jobs.start(job_id, utc_now(), max_attempts=3)
        assert w.jobs.finish(
            job_id, attempt=attempt, status=JobStatus.SUCCEEDED, now=utc_now(),
            summary=JobSummary.of(solution, 1.0), solution=solution,
        )  # fmt: skip
        w.assignments.add_all(job_id, roster)
        w.commit()

    stored = client.get(f"/v1/jobs/{job_id}/solution").json()
    assert [a["employee"] for a in stored["assignments"]] == employees
    for employee in employees:
        page = client.get(f"/v1/jobs/{job_id}/assignments", params={"employee": employee})
        assert [a["employee"] for a in page.json()["items"]] == [employee]
    # A LIKE wildcard is a character, not a pattern.
    wildcard = client.get(f"/v1/jobs/{job_id}/assignments", params={"employee": "%"})
    assert wildcard.json()["items"] == []

    with db_engine.connect() as conn:  # every table is still there
        for table in ("jobs", "tenants", "api_keys", "assignments"):
            assert conn.execute(sa.text(f"select count(*) from {table}")).scalar_one() >= 1


def test_hostile_path_and_query_values_are_404_or_400_not_500(api):
    client, _ = api
    for value in HOSTILE:
        assert client.get(f"/v1/jobs/{value}").status_code == 404
        assert client.get("/v1/jobs", params={"cursor": value}).status_code == 400
        assert client.get("/v1/jobs", params={"status": value}).status_code == 400
