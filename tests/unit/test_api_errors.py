"""Every error is an RFC 9457 problem document with a stable code and the correlation id."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import msgspec
import pytest

from domain.settings import Settings
from domain.validation import decode_problem
from tests.fakes import FakeUnitOfWork
from tests.unit.api_support import SAMPLE, ApiHarness, assert_problem


@pytest.fixture
def api() -> Iterator[ApiHarness]:
    with ApiHarness() as harness:
        yield harness


# --- 401 ------------------------------------------------------------------------------------


def test_no_api_key_is_401_unauthorized_with_a_bearer_challenge(api):
    response = api.client.get("/v1/jobs")

    assert_problem(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer rota_0MYOAB5KL9BbWA5jir5s9o6R1k-TZdXwsgcYfjyKzPQ",  # well formed, never issued
        "Bearer not-a-key",
        "Basic dXNlcjpwYXNz",
        "Bearer",
    ],
)
def test_an_unknown_or_malformed_api_key_is_401_unauthorized(api, authorization):
    response = api.client.get("/v1/jobs", headers={"Authorization": authorization})

    assert_problem(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_a_revoked_api_key_is_401_unauthorized(api):
    response = api.get("/v1/jobs", key=api.revoked_key)

    assert_problem(response, 401, "UNAUTHORIZED")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_authentication_is_checked_before_the_content_type(api):
    response = api.client.post("/v1/jobs", content=b"x" * 10, headers={"Content-Type": "text/x"})

    assert_problem(response, 401, "UNAUTHORIZED")


# --- 404 ------------------------------------------------------------------------------------


def test_another_tenants_job_answers_exactly_like_a_missing_one(api):
    job = api.add_job(api.tenant_b.id)
    assert api.get(f"/v1/jobs/{job.id}", key=api.key_b).status_code == 200
    foreign_response = api.get(f"/v1/jobs/{job.id}")  # tenant A asks for B's job
    del api.store.jobs[job.id]
    missing_response = api.get(f"/v1/jobs/{job.id}")  # the same id, now absent

    foreign = assert_problem(foreign_response, 404, "JOB_NOT_FOUND")
    missing = assert_problem(missing_response, 404, "JOB_NOT_FOUND")

    foreign.pop("correlation_id")
    missing.pop("correlation_id")
    assert foreign == missing
    assert foreign_response.headers.keys() == missing_response.headers.keys()


@pytest.mark.parametrize("job_id", ["not-a-uuid", "1234", "%00", "9b1d10d132744d568e36876e142e4f2"])
def test_a_malformed_job_id_is_404_job_not_found(api, job_id):
    for path in (f"/v1/jobs/{job_id}", f"/v1/jobs/{job_id}/solution"):
        assert_problem(api.get(path), 404, "JOB_NOT_FOUND")


def test_an_unknown_route_is_404_not_found(api):
    assert_problem(api.client.get("/v2/anything"), 404, "NOT_FOUND")


# --- 400, 405, 413, 415, 422 ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "path"),
    [
        ({"limit": "0"}, "query.limit"),
        ({"limit": "1001"}, "query.limit"),
        ({"limit": "many"}, "query.limit"),
        ({"status": "sleeping"}, "query.status"),
    ],
)
def test_a_bad_query_parameter_is_400_invalid_request_naming_it(api, params, path):
    body = assert_problem(api.get("/v1/jobs", params=params), 400, "INVALID_REQUEST")

    assert [issue["path"] for issue in body["errors"]] == [path]


def test_a_bad_date_filter_is_400_invalid_request(api):
    job = api.add_job(api.tenant_a.id)

    response = api.get(f"/v1/jobs/{job.id}/assignments", params={"date": "03/03/2025"})

    body = assert_problem(response, 400, "INVALID_REQUEST")
    assert [issue["path"] for issue in body["errors"]] == ["query.date"]


def test_a_forged_cursor_is_400_invalid_cursor(api):
    assert_problem(api.get("/v1/jobs", params={"cursor": "!!nope"}), 400, "INVALID_CURSOR")


def test_a_wrong_method_is_405_method_not_allowed_with_the_allowed_ones(api):
    response = api.client.delete("/v1/jobs")

    assert_problem(response, 405, "METHOD_NOT_ALLOWED")
    assert {"GET", "POST"} <= {m.strip() for m in response.headers["allow"].split(",")}


def test_a_body_over_the_limit_is_413_payload_too_large():
    assert len(SAMPLE) > 2048
    with ApiHarness(settings=Settings(max_body_bytes=2048, max_problem_bytes=2048)) as api:
        response = api.submit()

        assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
        assert api.store.jobs == {}


def test_a_streamed_body_over_the_limit_is_413_too(api):
    def chunks() -> Iterator[bytes]:
        yield from (SAMPLE[i : i + 1000] for i in range(0, len(SAMPLE), 1000))

    with ApiHarness(settings=Settings(max_body_bytes=2048, max_problem_bytes=2048)) as small:
        response = small.client.post(  # no Content-Length: the limit is applied while reading
            "/v1/jobs",
            content=chunks(),
            headers={**small.auth(small.key_a), "Content-Type": "application/json"},
        )

    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize(
    "content_type",
    [None, "text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1"],
)
def test_a_non_json_body_is_415_unsupported_media_type(api, content_type):
    headers = api.auth(api.key_a) | ({"Content-Type": content_type} if content_type else {})

    response = api.client.post("/v1/jobs", content=SAMPLE, headers=headers)

    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    assert api.queue.sent == []


def test_json_with_a_utf8_charset_is_accepted(api):
    assert api.submit(**{"Content-Type": "application/json; charset=UTF-8"}).status_code == 202


def test_an_invalid_problem_is_422_listing_every_issue_with_its_path(api):
    problem = msgspec.json.decode(SAMPLE)
    problem["employees"][1]["days_off"] = ["2030-01-01"]
    problem["requests"][0]["shift"] = "X"
    problem["cover"][2]["date"] = "2030-01-01"
    problem["options"]["time_limit_seconds"] = -1
    body = msgspec.json.encode(problem)

    response = api.submit(body)

    problem_doc = assert_problem(response, 422, "VALIDATION_FAILED")
    paths = [issue["path"] for issue in problem_doc["errors"]]
    assert paths == [
        "$.employees[1].days_off[0]",
        "$.requests[0].shift",
        "$.cover[2].date",
        "$.options.time_limit_seconds",
    ]
    with pytest.raises(Exception) as raised:
        decode_problem(body)
    assert problem_doc["errors"] == [
        {"path": i.path, "code": i.code, "message": i.message} for i in raised.value.issues
    ]
    assert api.queue.sent == []


def test_malformed_json_is_422_with_a_malformed_json_issue(api):
    body = assert_problem(api.submit(b'{"horizon": '), 422, "VALIDATION_FAILED")

    assert [(i["path"], i["code"]) for i in body["errors"]] == [("$", "MALFORMED_JSON")]


# --- 500 ------------------------------------------------------------------------------------


class ExplodingUnitOfWork(FakeUnitOfWork):
    def __enter__(self):
        uow = super().__enter__()

        def broken(*args, **kwargs):
            raise RuntimeError("psycopg: connection to db.internal:5432 lost in jobs_tbl")

        uow.jobs.list = broken
        return uow


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_an_unexpected_error_is_500_without_internals_and_is_logged_with_its_id(api):
    records = Records()
    logger = logging.getLogger("api.errors")
    logger.addHandler(records)
    try:
        with api.with_deps(uow_factory=lambda: ExplodingUnitOfWork(api.store)) as client:
            response = client.get("/v1/jobs", headers=api.auth(api.key_a))
    finally:
        logger.removeHandler(records)

    body = assert_problem(response, 500, "INTERNAL_ERROR")
    for leak in ("Traceback", "RuntimeError", "psycopg", "db.internal", "jobs_tbl", ".py"):
        assert leak not in response.text
    [record] = records.records
    assert record.request_id == body["correlation_id"]
    assert body["correlation_id"] in record.getMessage()
    assert record.exc_info is not None  # the traceback goes to the log, not to the client
