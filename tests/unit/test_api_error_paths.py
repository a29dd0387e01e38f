"""The nasty corners of the error path: failures outside any route, database outages, errors
that are answers rather than faults (api/errors.py, api/request_id.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator

import pytest
from litestar.exceptions import (
    InternalServerException,
    NotFoundException,
    ServiceUnavailableException,
)

from api.errors import HttpProblem, _domain_status, is_expected
from api.request_id import current_request_id
from domain.errors import (
    NotFound,
    RetryableConflict,
    RotaError,
    ServiceUnavailable,
)
from domain.validation import ProblemInvalid
from tests.fakes import FakeUnitOfWork
from tests.unit.api_support import ApiHarness, assert_problem

INTERNALS = ("Traceback", "psycopg", "db.internal", "5432", "jobs_tbl", ".py", "Error(")


@pytest.fixture
def api() -> Iterator[ApiHarness]:
    with ApiHarness() as harness:
        yield harness


class Seen(logging.Handler):
    """Records of api.errors, with the request id current when each was logged (what
    Sentry's Litestar hook reads, through the same contextvar)."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[tuple[logging.LogRecord, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record, current_request_id.get()))


@pytest.fixture
def seen() -> Iterator[Seen]:
    handler = Seen()
    logger = logging.getLogger("api.errors")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def failing_uow(api: ApiHarness, error: Callable[[], BaseException], *, on_enter: bool = False):
    """A unit-of-work factory whose job listing (or, with on_enter, every use) raises."""

    class Failing(FakeUnitOfWork):
        def __enter__(self) -> FakeUnitOfWork:
            if on_enter:
                raise error()
            uow = super().__enter__()

            def broken(*args: object, **kwargs: object) -> None:
                raise error()

            uow.jobs.list = broken
            return uow

    def factory(*, read_only: bool = False) -> FakeUnitOfWork:
        return Failing(api.store, read_only=read_only)

    return factory


def test_a_database_failure_during_authentication_is_a_clean_500_with_the_request_id(api, seen):
    # Authentication runs in middleware, outside every route: Litestar handles its errors in
    # the app-level handler, after the request-id middleware has returned.
    def lost() -> BaseException:
        return RuntimeError("psycopg: connection to db.internal:5432 refused")

    uow = failing_uow(api, lost, on_enter=True)
    with api.with_deps(uow_factory=uow, auth_cache_seconds=0) as client:
        response = client.get(
            "/v1/jobs", headers={**api.auth(api.key_a), "X-Request-ID": "auth-db-down-1"}
        )

    body = assert_problem(response, 500, "INTERNAL_ERROR")
    assert body["correlation_id"] == "auth-db-down-1"
    for leak in INTERNALS:
        assert leak not in response.text
    [(record, ambient_id)] = seen.records
    assert record.request_id == "auth-db-down-1"
    assert ambient_id == "auth-db-down-1"  # so the Sentry event is tagged with it too


@pytest.mark.parametrize(
    ("error", "code", "retry_after"),
    [
        (
            ServiceUnavailable("the database is unavailable; retry shortly"),
            "SERVICE_UNAVAILABLE",
            "5",
        ),
        (RetryableConflict("the transaction conflicted"), "TRANSACTION_CONFLICT", "1"),
    ],
)
def test_a_database_outage_is_503_with_retry_after_not_a_500(api, seen, error, code, retry_after):
    def outage() -> BaseException:
        try:
            raise ConnectionRefusedError("db.internal:5432")
        except ConnectionRefusedError as cause:
            error.__cause__ = cause
        return error

    with api.with_deps(uow_factory=failing_uow(api, outage)) as client:
        response = client.get(
            "/v1/jobs", headers={**api.auth(api.key_a), "X-Request-ID": "db-outage-503"}
        )

    body = assert_problem(response, 503, code)
    assert response.headers["retry-after"] == retry_after
    assert body["correlation_id"] == "db-outage-503"
    for leak in INTERNALS:
        assert leak not in response.text
    # Not a fault to report, but not silent either: one warning with the id and the cause.
    [(record, _)] = seen.records
    assert record.levelno == logging.WARNING
    assert record.request_id == "db-outage-503"
    assert "ConnectionRefusedError" in record.getMessage()


@pytest.mark.parametrize(
    "error",
    [
        InternalServerException(detail="pool of db.internal:5432 exhausted"),
        ServiceUnavailableException(detail="psycopg pool jobs_tbl"),
        RotaError("psycopg: jobs_tbl is broken"),  # a domain error with no HTTP meaning
    ],
)
def test_a_server_side_error_never_shows_its_text(api, error):
    with api.with_deps(uow_factory=failing_uow(api, lambda: error)) as client:
        response = client.get("/v1/jobs", headers=api.auth(api.key_a))

    assert_problem(response, 500, "INTERNAL_ERROR")
    for leak in INTERNALS:
        assert leak not in response.text


def test_every_domain_error_class_has_an_http_status():
    # A new RotaError subclass missing from api/errors.py would answer a bare 500 and lose
    # its code. (api_support imports api.app, hence every controller and its errors.)
    def subclasses(cls: type) -> Iterator[type]:
        for sub in cls.__subclasses__():
            yield sub
            yield from subclasses(sub)

    unmapped = [cls.__name__ for cls in subclasses(RotaError) if _domain_status(cls("x")) is None]

    assert unmapped == []


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (NotFound("no job", code="JOB_NOT_FOUND"), True),
        (ServiceUnavailable("database down"), True),
        (ProblemInvalid([]), True),
        (HttpProblem(401, "UNAUTHORIZED", "no key"), True),
        (NotFoundException(), True),
        (RuntimeError("boom"), False),
        (RotaError("unmapped"), False),
        (InternalServerException(), False),
    ],
)
def test_only_faults_are_reported_to_sentry(error, expected):
    assert is_expected(error) is expected
