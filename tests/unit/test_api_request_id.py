"""X-Request-ID: echoed when well formed, replaced otherwise, on every response, in the logs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator

import pytest

from api.request_id import RequestIdFilter, current_request_id, request_id_of
from tests.fakes import FakeUnitOfWork
from tests.unit.api_support import ApiHarness

FRESH_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def api() -> Iterator[ApiHarness]:
    with ApiHarness() as harness:
        yield harness


@pytest.mark.parametrize("request_id", ["abcdefgh", "trace-01.A_b", "x" * 128])
def test_a_well_formed_request_id_is_echoed(api, request_id):
    response = api.client.get("/health/live", headers={"X-Request-ID": request_id})

    assert response.headers["x-request-id"] == request_id


@pytest.mark.parametrize(
    "hostile",
    ["x" * 500, "short", "two words here", "id\r\nSet-Cookie: a=b", "<script>alert(1)</script>"],
)
def test_a_hostile_request_id_is_replaced_by_a_fresh_one(api, hostile):
    response = api.client.get("/health/live", headers={"X-Request-ID": hostile})

    assert FRESH_ID.fullmatch(response.headers["x-request-id"])


def test_a_request_id_with_a_newline_is_never_used():
    # Built by hand: HTTP clients refuse to send such a header, a raw socket need not.
    scope = {"type": "http", "headers": [(b"x-request-id", b"abcdefgh\nX-Evil: 1")]}

    assert FRESH_ID.fullmatch(request_id_of(scope))


def test_a_missing_request_id_gets_a_fresh_one_per_request(api):
    first = api.client.get("/health/live").headers["x-request-id"]
    second = api.client.get("/health/live").headers["x-request-id"]

    assert FRESH_ID.fullmatch(first)
    assert FRESH_ID.fullmatch(second)
    assert first != second


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/nowhere", 404),  # before routing
        ("DELETE", "/v1/jobs", 405),  # before routing
        ("GET", "/v1/jobs", 401),  # in the authentication middleware
        ("POST", "/v1/jobs", 401),
    ],
)
def test_errors_carry_the_request_id_in_header_and_body(api, method, path, status):
    response = api.client.request(method, path, headers={"X-Request-ID": "err-trace-42"})

    assert response.status_code == status
    assert response.headers["x-request-id"] == "err-trace-42"
    assert response.json()["correlation_id"] == "err-trace-42"


def test_handlers_see_the_request_id_in_their_thread(api):
    seen: list[str] = []

    def spying_uow(*, read_only: bool = False) -> FakeUnitOfWork:
        seen.append(current_request_id.get())  # called inside the sync handler's thread
        return FakeUnitOfWork(api.store, read_only=read_only)

    with api.with_deps(uow_factory=spying_uow, auth_cache_seconds=0) as client:
        client.get("/v1/jobs", headers={**api.auth(api.key_a), "X-Request-ID": "thread-id-7"})

    assert seen  # authentication and the listing both opened a unit of work
    assert set(seen) == {"thread-id-7"}


def test_the_log_filter_stamps_records_with_the_current_request_id():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    token = current_request_id.set("log-id-123")
    try:
        assert RequestIdFilter().filter(record)
    finally:
        current_request_id.reset(token)

    assert record.request_id == "log-id-123"


def test_the_log_filter_marks_records_outside_a_request():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)

    RequestIdFilter().filter(record)

    assert record.request_id == "-"
