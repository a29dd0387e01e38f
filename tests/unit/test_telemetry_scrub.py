"""What leaves the process is scrubbed (domain/adapters/telemetry/scrub.py and the Sentry
before_send of sentry.py; the real SDK end to end is tests/e2e/test_sentry.py)."""

from __future__ import annotations

import json

import pytest

from domain.adapters.telemetry.scrub import FILTERED, scrub_data, scrub_personal, scrub_secrets
from domain.adapters.telemetry.sentry import EventScrubber, release

KEY = "rota_0MYOAB5KL9BbWA5jir5s9o6R1k-TZdXwsgcYfjyKzPQ"
SQL_ERROR = (
    '(psycopg.errors.UndefinedTable) relation "jobs" does not exist\n'
    "[SQL: INSERT INTO jobs (id, problem) VALUES (%(id)s, %(problem)s)]\n"
    "[parameters: {'id': 'x', 'problem': '{\"employees\": [{\"name\": \"Ann Marker\"}]}'}]\n"
    "(Background on this error at: https://sqlalche.me/e/20/f405)"
)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"key {KEY} rejected", KEY),
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        (
            "webhook secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        ("redis://:s3cret-pass@cache:6379/0", "s3cret-pass"),
        ("postgresql+psycopg://rota:pw-123@db/rota", "pw-123"),
        ("GET /v1/jobs?access_token=tok-999&limit=5", "tok-999"),
        ("password=hunter2 user=ann", "hunter2"),
        (SQL_ERROR, "Ann Marker"),
    ],
)
def test_secrets_are_cut_from_text(text, secret):
    scrubbed = scrub_secrets(text)

    assert secret not in scrubbed
    assert FILTERED in scrubbed


def test_the_rest_of_the_text_is_kept():
    text = "GET /v1/jobs?limit=5&status=queued job 1234 failed: INFEASIBLE"

    assert scrub_secrets(text) == text
    assert 'relation "jobs" does not exist' in scrub_secrets(SQL_ERROR)
    assert "(Background on this error" in scrub_secrets(SQL_ERROR)


def test_e_mail_addresses_are_personal_data_cut_for_third_parties_only():
    text = "no tenant 'ann.marker@example.co.uk'"

    assert scrub_secrets(text) == text  # log lines stay in the operator's systems
    assert "ann.marker@example.co.uk" not in scrub_personal(text)


def test_values_under_sensitive_names_are_replaced_whatever_they_hold():
    data = {
        "headers": {"Authorization": "x", "Cookie": "sid=1", "X-Api-Key": "y", "Accept": "*/*"},
        "pairs": [["authorization", "Basic dXNlcg=="], ["accept", "*/*"]],
        "nested": [{"client_secret": 42, "refresh_token": None, "count": 3}],
    }

    assert scrub_data(data) == {
        "headers": {
            "Authorization": FILTERED,
            "Cookie": FILTERED,
            "X-Api-Key": FILTERED,
            "Accept": "*/*",
        },
        "pairs": [["authorization", FILTERED], ["accept", "*/*"]],
        "nested": [{"client_secret": FILTERED, "refresh_token": FILTERED, "count": 3}],
    }


def litestar_event() -> dict:
    """The shape of an event of Sentry's Litestar and ASGI integrations (sentry-sdk 2.x)."""
    return {
        "level": "error",
        "exception": {"values": [{"type": "ProgrammingError", "value": SQL_ERROR}]},
        "request": {
            "method": "POST",
            "url": "http://127.0.0.1:8000/v1/jobs",
            "query_string": "access_token=tok-999&limit=5",
            "headers": {
                "authorization": f"Bearer {KEY}",
                "cookie": "session=abc",
                "x-request-id": "req-77",
                "content-type": "application/json",
            },
            "cookies": {"session": "abc"},
            "data": {"employees": [{"id": "A", "name": "Ann Marker <ann@example.com>"}]},
            "content_length": 1234,
        },
        "user": {"ip_address": "203.0.113.9"},
        "breadcrumbs": {"values": [{"message": f"auth with {KEY} for ann@example.com"}]},
        "tags": {"litestar.middleware_name": "RequestIdMiddleware"},
        # The SDK's annotations: what it removed or trimmed, never the values themselves.
        "_meta": {
            "request": {
                "headers": {"authorization": {"": {"rem": [["!config", "s"]]}}},
                "data": {"employees": {"": {"len": 2000}}},
            }
        },
    }


def test_an_event_leaves_without_body_credentials_or_personal_data():
    scrub = EventScrubber("api", lambda: "req-77")

    event = scrub(litestar_event(), {})

    text = json.dumps(event)
    for leak in (KEY, "session=abc", "Ann Marker", "ann@example.com", "tok-999", "203.0.113.9"):
        assert leak not in text
    assert "data" not in event["request"]
    assert "cookies" not in event["request"]
    assert "user" not in event
    assert event["request"]["headers"]["x-request-id"] == "req-77"
    assert event["request"]["query_string"] == f"access_token={FILTERED}&limit=5"
    assert event["exception"]["values"][0]["type"] == "ProgrammingError"


def test_the_sdk_annotations_keep_their_shape_but_say_nothing_of_the_body():
    event = EventScrubber("api", lambda: "-")(litestar_event(), {})

    assert event["_meta"] == {
        "request": {"headers": {"authorization": {"": {"rem": [["!config", "s"]]}}}}
    }


def test_an_event_is_tagged_with_the_correlation_id_and_the_service():
    event = EventScrubber("worker", lambda: "corr-5")(litestar_event(), {})

    assert event["tags"]["correlation_id"] == "corr-5"
    assert event["tags"]["service"] == "worker"
    assert event["tags"]["litestar.middleware_name"] == "RequestIdMiddleware"


def test_outside_a_request_there_is_no_correlation_tag():
    event = EventScrubber("worker", lambda: "-")(litestar_event(), {})

    assert "correlation_id" not in event["tags"]


def test_ignored_errors_are_not_sent_and_others_are():
    scrub = EventScrubber("api", lambda: "-", ignore=lambda exc: isinstance(exc, KeyError))

    def hint(exc: BaseException) -> dict:
        return {"exc_info": (type(exc), exc, None)}

    assert scrub(litestar_event(), hint(KeyError("x"))) is None
    assert scrub(litestar_event(), hint(RuntimeError("x"))) is not None
    assert scrub({"message": "a log line"}, {}) is not None  # no exception at all


def test_the_release_is_the_package_version():
    assert release().startswith("rota@")
