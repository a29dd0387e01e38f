"""Idempotency-Key on POST /v1/jobs, POST /v1/jobs/{id}/cancel, and a lost database (503),
on in-memory fakes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import msgspec
import pytest

from domain.errors import RetryableConflict, ServiceUnavailable
from domain.jobs import JobStatus
from tests.unit.api_support import SAMPLE, ApiHarness, assert_problem


@pytest.fixture
def api() -> Iterator[ApiHarness]:
    with ApiHarness() as harness:
        yield harness


def test_a_repeated_request_with_the_same_key_answers_200_with_the_same_job(api):
    first = api.submit(**{"Idempotency-Key": "order-42"})
    again = api.submit(**{"Idempotency-Key": "order-42"})

    assert first.status_code == 202
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["location"] == first.headers["location"]
    assert len(api.store.jobs) == 1
    assert len(api.queue.sent) == 1


def test_the_same_key_with_another_body_answers_409(api):
    api.submit(**{"Idempotency-Key": "order-42"})
    other = msgspec.json.decode(SAMPLE)
    other["name"] = "another ward"

    response = api.submit(msgspec.json.encode(other), **{"Idempotency-Key": "order-42"})

    assert_problem(response, 409, "IDEMPOTENCY_KEY_REUSED")
    assert len(api.store.jobs) == 1


def test_another_tenant_may_use_the_same_key(api):
    mine = api.submit(**{"Idempotency-Key": "order-42"})
    theirs = api.submit(key=api.key_b, **{"Idempotency-Key": "order-42"})
    assert theirs.status_code == 202
    assert theirs.json()["id"] != mine.json()["id"]


def test_a_malformed_key_answers_400(api):
    response = api.submit(**{"Idempotency-Key": "x" * 300})
    assert_problem(response, 400, "INVALID_IDEMPOTENCY_KEY")
    assert api.store.jobs == {}


def cancel(api: ApiHarness, job_id: object, key: str | None = None):
    return api.client.post(f"/v1/jobs/{job_id}/cancel", headers=api.auth(key or api.key_a))


def test_cancelling_a_queued_job_answers_200_and_it_is_cancelled(api):
    job_id = api.submit().json()["id"]

    response = cancel(api, job_id)

    assert response.status_code == 200, response.text
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancel_requested_at"] is not None
    assert api.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"


def test_cancelling_a_running_job_answers_202_and_records_the_request(api):
    job = api.add_job(api.tenant_a.id, JobStatus.RUNNING)

    response = cancel(api, job.id)

    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "running"
    assert body["cancel_requested_at"] is not None
    assert api.store.jobs[job.id].cancel_requested_at is not None


def test_cancelling_a_finished_job_answers_409(api):
    job = api.add_job(api.tenant_a.id)
    api.finish_job(job.id, [])
    assert_problem(cancel(api, job.id), 409, "JOB_FINISHED")


@pytest.mark.parametrize("which", ["other-tenant", "unknown", "malformed"])
def test_cancelling_a_job_the_caller_cannot_see_answers_404(api, which):
    job = api.add_job(api.tenant_a.id)
    job_id = {"other-tenant": job.id, "unknown": uuid.uuid4(), "malformed": "nope"}[which]
    key = api.key_b if which == "other-tenant" else api.key_a
    assert_problem(cancel(api, job_id, key), 404, "JOB_NOT_FOUND")
    assert api.store.jobs[job.id].status is JobStatus.QUEUED


@pytest.mark.parametrize(
    ("error", "code", "retry_after"),
    [
        (ServiceUnavailable("the database is unavailable"), "SERVICE_UNAVAILABLE", "5"),
        (RetryableConflict("conflict"), "TRANSACTION_CONFLICT", "1"),
    ],
)
def test_a_lost_database_answers_503_with_retry_after(api, error, code, retry_after):
    armed = False

    def unavailable(*, read_only: bool = False):
        if armed:
            raise error
        return api.uow_factory(read_only=read_only)

    with api.with_deps(uow_factory=unavailable) as client:
        # Authenticated while the database answers; the key is then cached for a few seconds.
        assert client.get("/v1/jobs", headers=api.auth(api.key_a)).status_code == 200
        armed = True
        response = client.post(
            "/v1/jobs",
            content=SAMPLE,
            headers={**api.auth(api.key_a), "Content-Type": "application/json"},
        )

    body = assert_problem(response, 503, code)
    assert response.headers["retry-after"] == retry_after
    assert "database" in body["detail"] or "conflict" in body["detail"]
