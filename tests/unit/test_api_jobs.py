"""The /v1/jobs endpoints on in-memory fakes: submit, read, list, solution, assignments."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import msgspec
import pytest

from domain.jobs import JobProgress, JobStatus
from tests.unit.api_support import SAMPLE, ApiHarness, assert_problem, roster


@pytest.fixture
def api() -> Iterator[ApiHarness]:
    with ApiHarness() as harness:
        yield harness


def test_submit_answers_202_with_location_and_a_queued_job_that_the_queue_received(api):
    response = api.submit(**{"X-Request-ID": "client-req-0001"})

    assert response.status_code == 202
    body = response.json()
    job_id = uuid.UUID(body["id"])
    assert response.headers["location"] == f"/v1/jobs/{job_id}"
    assert body["status"] == "queued"
    assert body["name"] == "Ward 7, two weeks"
    assert body["correlation_id"] == "client-req-0001"
    assert body["links"]["self"] == f"/v1/jobs/{job_id}"
    assert api.queue.sent == [(job_id, "client-req-0001")]
    assert api.store.jobs[job_id].tenant_id == api.tenant_a.id


def test_submit_caps_the_time_limit_at_the_server_maximum():
    problem = msgspec.json.decode(SAMPLE)
    problem["options"] = {"time_limit_seconds": 3600}
    with ApiHarness() as api:
        body = api.submit(msgspec.json.encode(problem)).json()

    assert body["time_limit_seconds"] == api.settings.max_time_limit_seconds


def test_get_job_shows_a_queued_job_with_its_links_and_no_results_yet(api):
    job_id = api.submit().json()["id"]

    body = api.get(f"/v1/jobs/{job_id}").json()

    assert body["status"] == "queued"
    assert body["attempts"] == 0
    assert body["created_at"].startswith("2026-01-05T09:00:")
    assert body["started_at"] is None
    assert body["finished_at"] is None
    assert body["time_limit_seconds"] == 5.0  # the sample asks for 5 s
    assert body["progress"] is None
    assert body["summary"] is None
    assert body["error"] is None
    assert body["links"] == {"self": f"/v1/jobs/{job_id}", "solution": None, "assignments": None}


def test_get_job_shows_progress_while_running(api):
    job = api.add_job(api.tenant_a.id)
    with api.uow_factory() as uow:
        attempt = uow.jobs.start(job.id, api.clock(), max_attempts=3)
        progress = JobProgress(objective=12, bound=9, elapsed_seconds=2.5, solver="cp-sat")
        uow.jobs.record_progress(job.id, attempt, progress)
        uow.commit()

    body = api.get(f"/v1/jobs/{job.id}").json()

    assert body["status"] == "running"
    assert body["attempts"] == 1
    assert body["started_at"] is not None
    assert body["progress"] == {
        "objective": 12,
        "bound": 9,
        "elapsed_seconds": 2.5,
        "solver": "cp-sat",
    }


def test_get_job_shows_the_summary_and_result_links_once_succeeded(api):
    job = api.add_job(api.tenant_a.id)
    api.finish_job(job.id, roster(2, ["e01", "e02"]))

    body = api.get(f"/v1/jobs/{job.id}").json()

    assert body["status"] == "succeeded"
    assert body["finished_at"] is not None
    assert body["progress"] is None
    assert body["summary"]["objective"] == 7
    assert body["summary"]["assignments"] == 4
    assert body["summary"]["penalties"]["cover_under"] == 7
    assert body["links"]["solution"] == f"/v1/jobs/{job.id}/solution"
    assert body["links"]["assignments"] == f"/v1/jobs/{job.id}/assignments"


def test_get_job_shows_the_error_code_and_detail_of_a_failed_job(api):
    job = api.add_job(api.tenant_a.id)
    with api.uow_factory() as uow:
        uow.jobs.finish(
            job.id,
            attempt=None,
            status=JobStatus.FAILED,
            now=api.clock(),
            error_code="INFEASIBLE",
            error_detail="no roster meets every hard rule",
        )
        uow.commit()

    body = api.get(f"/v1/jobs/{job.id}").json()

    assert body["status"] == "failed"
    assert body["error"] == {"code": "INFEASIBLE", "detail": "no roster meets every hard rule"}
    assert body["links"]["solution"] is None


def test_list_jobs_pages_through_every_job_newest_first(api):
    created = [api.add_job(api.tenant_a.id).id for _ in range(5)]

    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        body = api.get("/v1/jobs", params=params).json()
        seen += [uuid.UUID(item["id"]) for item in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert seen == created[::-1]


def test_list_jobs_filters_by_status(api):
    queued = api.add_job(api.tenant_a.id)
    running = api.add_job(api.tenant_a.id, JobStatus.RUNNING)

    body = api.get("/v1/jobs", params={"status": "running"}).json()

    assert [item["id"] for item in body["items"]] == [str(running.id)]
    assert str(queued.id) not in {item["id"] for item in body["items"]}
    assert body["next_cursor"] is None


def test_list_jobs_shows_only_the_callers_tenant(api):
    mine = api.add_job(api.tenant_a.id)
    api.add_job(api.tenant_b.id)

    body = api.get("/v1/jobs").json()

    assert [item["id"] for item in body["items"]] == [str(mine.id)]


def test_solution_is_not_ready_before_the_job_finishes(api):
    job_id = api.submit().json()["id"]

    body = assert_problem(api.get(f"/v1/jobs/{job_id}/solution"), 404, "SOLUTION_NOT_READY")

    assert "queued" in body["detail"]


def test_solution_is_served_as_the_stored_bytes_once_finished(api):
    job = api.add_job(api.tenant_a.id)
    api.finish_job(job.id, roster(1, ["e01"]))

    response = api.get(f"/v1/jobs/{job.id}/solution")

    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.content == api.store.solutions[job.id]


def test_solution_of_another_tenants_job_is_not_found(api):
    job = api.add_job(api.tenant_b.id)
    api.finish_job(job.id, roster(1, ["e01"]))

    assert_problem(api.get(f"/v1/jobs/{job.id}/solution"), 404, "JOB_NOT_FOUND")


def test_assignments_filter_by_date_and_by_employee(api):
    job = api.add_job(api.tenant_a.id)
    api.finish_job(job.id, roster(3, ["e01", "e02", "e03"]))
    path = f"/v1/jobs/{job.id}/assignments"

    by_date = api.get(path, params={"date": "2025-03-04"}).json()
    by_employee = api.get(path, params={"employee": "e02"}).json()
    both = api.get(path, params={"date": "2025-03-05", "employee": "e03"}).json()

    assert by_date["job_id"] == str(job.id)
    assert [(a["date"], a["employee"]) for a in by_date["items"]] == [
        ("2025-03-04", "e01"),
        ("2025-03-04", "e02"),
        ("2025-03-04", "e03"),
    ]
    assert [a["date"] for a in by_employee["items"]] == ["2025-03-03", "2025-03-04", "2025-03-05"]
    assert {a["employee"] for a in by_employee["items"]} == {"e02"}
    assert both["items"] == [{"employee": "e03", "date": "2025-03-05", "shift": "E"}]


def test_assignments_page_through_the_roster_in_date_then_employee_order(api):
    job = api.add_job(api.tenant_a.id)
    api.finish_job(job.id, roster(4, ["e01", "e02"]))  # 8 rows
    path = f"/v1/jobs/{job.id}/assignments"

    rows, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        body = api.get(path, params=params).json()
        rows += [(dt.date.fromisoformat(a["date"]), a["employee"]) for a in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert pages == 3
    assert rows == sorted(rows)
    assert len(rows) == len(set(rows)) == 8


def test_assignments_of_an_unknown_job_are_not_found(api):
    assert_problem(api.get(f"/v1/jobs/{uuid.uuid4()}/assignments"), 404, "JOB_NOT_FOUND")
