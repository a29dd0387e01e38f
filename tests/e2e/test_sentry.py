"""Sentry end to end, with the real SDK: the DSN points at an HTTP server in this test that
records the envelopes it receives, the API is served by uvicorn and the worker is a real
Celery worker. No part of the SDK is replaced.

The API's failing route is a real one made to fail: POST /v1/jobs on a database whose `jobs`
table was dropped after the API key was made (authentication still works, the INSERT fails).
The worker's failing task is `rota.solve_job` sent without its argument (a TypeError raised
inside the task call, where the Celery integration looks).
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import http.server
import json
import os
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import psycopg
import pytest
import redis

from domain.adapters.celery_config import LIGHT_QUEUE, SOLVE_QUEUE, SOLVE_TASK
from domain.adapters.celery_queue import CORRELATION_HEADER, make_producer_app
from domain.settings import Settings
from tests import harness
from tests.e2e.stack import Stack
from tests.integration import worker_support
from tests.unit.api_support import SAMPLE

pytestmark = pytest.mark.e2e

# Not a timing assertion: how long to wait before calling the test hung.
HANG_SECONDS = 120.0
ENVIRONMENT = "e2e-sentry"
# Marks that must never reach Sentry: a name and an e-mail address in the body, a token in
# the query string, a session cookie.
BODY_NAME = "Zelda Quirkworth"
EMAIL = "zelda.quirkworth@example.org"
QUERY_TOKEN = "tok-q5Xv9LmRt2"
COOKIE = "sess-Hk29fLq0Zr"


class EnvelopeSink:
    """A Sentry ingest stand-in: stores the body of every envelope POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    raw = gzip.decompress(raw)
                elif encoding == "deflate":
                    raw = zlib.decompress(raw)
                elif encoding == "br":
                    # The SDK compresses with brotli only when the module is installed.
                    import brotli

                    raw = brotli.decompress(raw)
                with sink._lock:
                    sink.bodies.append(raw)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args: object) -> None:  # keep the test output quiet
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def dsn(self) -> str:
        return f"http://public@127.0.0.1:{self.server.server_address[1]}/1"

    def raw(self) -> bytes:
        with self._lock:
            return b"\n".join(self.bodies)

    def events(self) -> list[dict]:
        """The `event` items of every envelope received so far."""
        with self._lock:
            bodies = list(self.bodies)
        return [item for body in bodies for kind, item in envelope_items(body) if kind == "event"]

    def wait_for_event(self, matches: Callable[[dict], bool], alive: Callable[[], bool]) -> dict:
        deadline = time.monotonic() + HANG_SECONDS
        while time.monotonic() < deadline:
            found = [e for e in self.events() if matches(e)]
            if found:
                return found[0]
            assert alive(), "the process under test exited"
            time.sleep(0.1)
        pytest.fail(f"no matching event after {HANG_SECONDS} s; received {self.events()}")


def envelope_items(body: bytes) -> Iterator[tuple[str, dict]]:
    """(type, payload) of each item of a Sentry envelope: a header line, then per item a
    header line and a payload of `length` bytes (or up to the next newline)."""
    _header, _, rest = body.partition(b"\n")
    while rest.strip():
        item_line, _, rest = rest.partition(b"\n")
        item = json.loads(item_line)
        if "length" in item:
            payload, rest = rest[: item["length"]], rest[item["length"] + 1 :]
        else:
            payload, _, rest = rest.partition(b"\n")
        if item.get("type") in ("event", "transaction"):
            yield item["type"], json.loads(payload)


@pytest.fixture
def sink() -> Iterator[EnvelopeSink]:
    sink = EnvelopeSink()
    sink.thread.start()
    try:
        yield sink
    finally:
        sink.server.shutdown()
        sink.server.server_close()
        sink.thread.join()


@pytest.fixture
def private_database(postgres_admin_url: str) -> Iterator[str]:
    """A migrated database of this test alone: it is broken on purpose."""
    from domain.adapters.db import migrate

    name = f"rota_sentry_{harness.worker_id()}_{os.getpid()}"
    url = harness.create_database(postgres_admin_url, name)
    try:
        migrate.upgrade(url)
        yield url
    finally:
        harness.drop_database(postgres_admin_url, name)


def exception_types(event: dict) -> list[str]:
    return [value["type"] for value in event.get("exception", {}).get("values", [])]


def json_log_lines(path: Path) -> list[dict]:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return [json.loads(line) for line in lines]


def submit_with_secrets(stack: Stack, key: str, request_id: str, body: bytes):
    """POST /v1/jobs carrying every kind of secret a client sends: an API key, a cookie, a
    token in the query string, personal data in the body."""
    with stack.client(key) as client:
        return client.post(
            "/v1/jobs",
            params={"access_token": QUERY_TOKEN, "limit": "5"},
            content=body,
            headers={
                "Content-Type": "application/json",
                "X-Request-ID": request_id,
                "Cookie": f"session={COOKIE}",
            },
        )


def test_an_api_500_reaches_sentry_tagged_and_scrubbed(sink, private_database, redis_url, tmp_path):
    stack = Stack(private_database, redis_url, tmp_path)
    stack.env.update(
        SENTRY_DSN=sink.dsn,
        ROTA_ENVIRONMENT=ENVIRONMENT,
        ROTA_LOG_FORMAT="json",
        # Outside development the API refuses to start without its JWT and TOTP keys.
        ROTA_JWT_SECRET="e2e-" + "s" * 40,
        ROTA_TOTP_ENCRYPTION_KEY=base64.b64encode(b"k" * 32).decode(),
        ROTA_WEBHOOK_ENCRYPTION_KEY=base64.b64encode(b"w" * 32).decode(),
    )
    key = stack.api_key("sentry-e2e")
    request_id = f"sentry-e2e-{uuid.uuid4().hex[:12]}"
    problem = msgspec.json.decode(SAMPLE)
    problem["employees"][0]["name"] = f"{BODY_NAME} <{EMAIL}>"
    try:
        stack.start_api()
        with psycopg.connect(harness.libpq_url(private_database), autocommit=True) as conn:
            conn.execute("DROP TABLE jobs CASCADE")

        response = submit_with_secrets(stack, key, request_id, msgspec.json.encode(problem))

        assert response.status_code == 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "INTERNAL_ERROR"
        assert response.json()["correlation_id"] == request_id
        event = sink.wait_for_event(
            lambda e: e.get("tags", {}).get("correlation_id") == request_id,
            alive=lambda: stack.api is not None and stack.api.poll() is None,
        )
    finally:
        stack.stop()

    assert "ProgrammingError" in exception_types(event)  # the table is gone
    assert event["tags"]["service"] == "api"
    assert event["environment"] == ENVIRONMENT
    assert event["release"].startswith("rota@")
    assert event["request"]["method"] == "POST"
    # The same failure is logged by api/errors.py; Sentry's dedupe keeps one report of it.
    tagged = [e for e in sink.events() if e.get("tags", {}).get("correlation_id") == request_id]
    assert len(tagged) == 1
    raw = sink.raw().decode(errors="replace")
    for secret in (key, key[len("rota_") :], "Bearer ", BODY_NAME, EMAIL, QUERY_TOKEN, COOKIE):
        assert secret not in raw, f"{secret!r} reached Sentry"
    assert "data" not in event["request"]  # no body at all, not even a scrubbed one

    # The API's log: every line JSON, the failure's line with the request id.
    lines = json_log_lines(tmp_path / "api.log")
    failure = [line for line in lines if line["logger"] == "api.errors"]
    assert [line["correlation_id"] for line in failure] == [request_id]
    assert "ProgrammingError" in failure[0]["exception"]
    assert key not in (tmp_path / "api.log").read_text()


def test_a_failing_task_reaches_sentry_through_the_celery_integration(
    sink, postgres_url, redis_url, tmp_path
):
    # Messages left by earlier tests would be consumed first.
    client = redis.Redis.from_url(redis_url)
    client.delete(SOLVE_QUEUE, LIGHT_QUEUE)
    client.close()
    correlation_id = f"sentry-task-{uuid.uuid4().hex[:12]}"
    log = tmp_path / "worker.log"
    worker = worker_support.start_worker(
        postgres_url,
        redis_url,
        log,
        {
            "SENTRY_DSN": sink.dsn,
            "ROTA_ENVIRONMENT": ENVIRONMENT,
            "ROTA_LOG_FORMAT": "json",
            # Outside development a worker refuses to start without its webhook key.
            "ROTA_WEBHOOK_ENCRYPTION_KEY": base64.b64encode(b"w" * 32).decode(),
        },
    )
    producer = make_producer_app(Settings(redis_url=redis_url))
    try:
        result = producer.send_task(
            SOLVE_TASK, args=[], queue=SOLVE_QUEUE, headers={CORRELATION_HEADER: correlation_id}
        )
        event = sink.wait_for_event(
            lambda e: e.get("tags", {}).get("correlation_id") == correlation_id,
            alive=lambda: worker.poll() is None,
        )
    finally:
        with contextlib.suppress(Exception):
            producer.close()
        worker_support.stop(worker)

    assert exception_types(event) == ["TypeError"]  # solve_job() missing its job id
    mechanisms = [v.get("mechanism", {}).get("type") for v in event["exception"]["values"]]
    assert mechanisms == ["celery"]
    assert event["tags"]["celery_task_id"] == result.id
    assert event["tags"]["service"] == "worker"
    assert event["environment"] == ENVIRONMENT

    # The worker's log: Celery's own failure line, from the pool process, with the id.
    records = [r for r in json_log_lines_lenient(log) if result.id in r.get("event", "")]
    failed = [r for r in records if "raised unexpected" in r["event"]]
    assert failed
    assert all(r["correlation_id"] == correlation_id for r in failed)


def json_log_lines_lenient(path: Path) -> list[dict]:
    """The JSON records of a worker's output (Celery prints its start-up banner as text)."""
    records = []
    for line in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict):
                records.append(record)
    return records
