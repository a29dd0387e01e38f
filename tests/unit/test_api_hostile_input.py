"""Hostile bodies answer 4xx, never 500: size cap before parsing (also without
Content-Length), content type, unknown fields, depth and list caps, NaN/Infinity, huge
integers, NUL, lone surrogates and broken UTF-8 (issue 4, "Headers, CORS, input")."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest

from api.app import create_app
from domain.settings import Settings
from tests.unit.api_support import SAMPLE, ApiHarness, assert_problem

DOC = json.loads(SAMPLE)
TEXT = SAMPLE.decode()


@pytest.fixture(scope="module")
def api():
    with ApiHarness() as harness:
        yield harness


def issue_codes(response) -> list[str]:
    body = assert_problem(response, 422, "VALIDATION_FAILED")
    return [e["code"] for e in body["errors"]]


def time_limit(literal: str) -> str:
    """The sample with `options.time_limit_seconds` written as this JSON text."""
    return TEXT.replace('"time_limit_seconds": 5', f'"time_limit_seconds": {literal}')


def with_options(**options) -> str:
    return json.dumps({**DOC, "options": {**DOC["options"], **options}})


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (time_limit("NaN"), "MALFORMED_JSON"),
        (time_limit("Infinity"), "MALFORMED_JSON"),
        (with_options(time_limit_seconds=1e999), "MALFORMED_JSON"),  # json.dumps: Infinity
        (time_limit("1e999"), "INVALID_VALUE"),
        (TEXT.replace('"time_limit_seconds": 5', '"seed": ' + "9" * 400), "VALUE_TOO_LARGE"),
        (time_limit("9" * 400), "INVALID_VALUE"),
        (json.dumps({**DOC, "name": "a\u0000b"}), "NUL_CHARACTER"),
        (TEXT.replace('"name": "Early"', '"name": "\\ud800"'), "MALFORMED_JSON"),
        (json.dumps({**DOC, "tenant_id": "00000000-0000-0000-0000-000000000000"}), "UNKNOWN_FIELD"),
        (json.dumps({**DOC, "status": "succeeded"}), "UNKNOWN_FIELD"),
        ('{"horizon": ' + "[" * 50_000 + "]" * 50_000 + "}", "INVALID_TYPE"),
        ("[" * 50_000 + "]" * 50_000, "INVALID_TYPE"),
    ],
    ids=[
        "nan", "infinity", "inf-from-dumps", "overflowing-float", "huge-int-seed",
        "huge-int-float", "nul", "lone-surrogate", "tenant_id", "status", "deep-member",
        "deep-root",
    ],
)  # fmt: skip
def test_hostile_problem_bodies_are_422(api, body, code):
    codes = issue_codes(api.submit(body.encode()))
    assert code in codes, codes


def test_broken_utf8_is_422(api):
    assert issue_codes(api.submit(b'{"name": "\xff\xfe"}')) == ["MALFORMED_JSON"]


def test_list_caps_are_422(api):
    shifts = [{**DOC["shift_types"][0], "id": f"S{i}"} for i in range(101)]
    codes = issue_codes(api.submit(json.dumps({**DOC, "shift_types": shifts}).encode()))
    assert "TOO_MANY" in codes


def test_a_body_that_is_not_json_is_415(api):
    response = api.submit(SAMPLE, **{"Content-Type": "text/plain"})
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_json_in_another_charset_is_415(api):
    response = api.submit(SAMPLE, **{"Content-Type": "application/json; charset=latin-1"})
    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ('{"url": ' + "[" * 50_000 + "]" * 50_000 + "}", 400, "INVALID_REQUEST"),
        # Not JSON msgspec accepts (JSON has no NaN, a lone surrogate is no character, a
        # number out of range): 422 with issue MALFORMED_JSON, as a problem would get.
        (
            '{"url": "https://example.com", "events": ["job.failed"], "x": NaN}',
            422,
            "VALIDATION_FAILED",
        ),
        (
            '{"url": "https://example.com/\\ud800", "events": ["job.failed"]}',
            422,
            "VALIDATION_FAILED",
        ),
        ('{"url": 1e999999, "events": ["job.failed"]}', 422, "VALIDATION_FAILED"),
        # Well-formed JSON that breaks the schema: 422 too.
        (
            '{"url": "https://example.com", "events": ["job.failed"], "tenant_id": "x"}',
            422,
            "VALIDATION_FAILED",
        ),
    ],
    ids=["deep", "nan", "lone-surrogate", "huge-number", "unknown-field"],
)
def test_hostile_webhook_bodies_are_4xx_not_500(api, body, status, code):
    response = api.client.post(
        "/v1/webhooks",
        content=body.encode(),
        headers={**api.auth(api.key_a), "Content-Type": "application/json"},
    )
    assert_problem(response, status, code)


# --- the body size cap -----------------------------------------------------------------------

LIMIT = 4096


@pytest.fixture(scope="module")
def small():
    with ApiHarness(settings=Settings(max_body_bytes=LIMIT, max_problem_bytes=LIMIT)) as harness:
        yield harness


@pytest.fixture(scope="module")
def small_except_problems():
    settings = Settings(max_body_bytes=LIMIT, max_problem_bytes=len(SAMPLE) + LIMIT)
    with ApiHarness(settings=settings) as harness:
        yield harness


def test_a_problem_may_be_larger_than_other_bodies(small_except_problems):
    assert len(SAMPLE) > LIMIT  # the sample problem is over the general cap

    response = small_except_problems.submit(SAMPLE)

    assert response.status_code == 202, response.text


def test_other_routes_keep_the_general_cap(small_except_problems):
    api = small_except_problems
    body = b'{"url": "https://example.com", "events": ["job.failed"]}' + b" " * LIMIT
    response = api.client.post(
        "/v1/webhooks",
        content=body,
        headers={**api.auth(api.key_a), "Content-Type": "application/json"},
    )
    problem = assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert str(LIMIT) in problem["detail"]


def test_an_announced_oversized_body_is_413(small):
    response = small.submit(b" " * (LIMIT + 1))
    body = assert_problem(response, 413, "PAYLOAD_TOO_LARGE")
    assert str(LIMIT) in body["detail"]


def test_a_chunked_oversized_body_is_413(small):
    def chunks():
        for _ in range(10):
            yield b" " * 1024

    # A generator body is sent with Transfer-Encoding: chunked, without Content-Length.
    response = small.client.post(
        "/v1/jobs",
        content=chunks(),
        headers={**small.auth(small.key_a), "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413, "PAYLOAD_TOO_LARGE")


def chunked_submit_scope(key: str) -> dict:
    """The ASGI scope of POST /v1/jobs with a chunked body (no Content-Length)."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/jobs",
        "raw_path": b"/v1/jobs",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"testserver"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"transfer-encoding", b"chunked"),
        ],
        "client": ("198.51.100.1", 1234),
        "server": ("testserver", 80),
    }


def test_the_cap_stops_reading_a_stream_as_soon_as_it_is_passed(small):
    """Straight through ASGI: the app must stop asking for chunks just past the limit, not
    read the whole (here, endless) body first."""
    app = create_app(small.deps)
    received = 0
    sent: list[dict] = []

    async def receive():
        nonlocal received
        received += 1
        return {"type": "http.request", "body": b" " * 1024, "more_body": True}

    async def send(message):
        sent.append(message)

    scope = chunked_submit_scope(small.key_a)
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 413
    assert received <= LIMIT // 1024 + 1


def test_a_client_that_hangs_up_mid_body_is_no_server_error(small, caplog):
    """Straight through ASGI: a disconnect while the body streams in is the client's doing,
    answered (to nobody) as 400 CLIENT_DISCONNECTED and never logged as an error."""
    app = create_app(small.deps)
    messages = [
        {"type": "http.request", "body": b'{"horizon": ', "more_body": True},
        {"type": "http.disconnect"},
    ]
    sent: list[dict] = []

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = chunked_submit_scope(small.key_a)
    caplog.set_level(logging.INFO, logger="api.errors")
    asyncio.run(app(scope, receive, send))

    assert sent[0]["status"] == 400
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert b"CLIENT_DISCONNECTED" in body
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
