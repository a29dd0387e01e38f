"""End to end: a webhook registered over HTTP receives exactly one signed `job.succeeded`,
sent by the real Celery worker, with the job's correlation id (uvicorn API, prefork worker,
PostgreSQL, Redis, and a live receiver on 127.0.0.1 opened by ROTA_WEBHOOK_ALLOW_NETWORKS)."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import msgspec
import pytest
import sqlalchemy as sa

from domain.adapters.celery_config import LIGHT_QUEUE, SWEEP_WEBHOOKS_TASK
from domain.adapters.celery_queue import make_producer_app
from domain.adapters.db.engine import make_admin_engine
from domain.adapters.db.tables import webhook_deliveries
from domain.settings import Settings
from tests.e2e.stack import Stack
from tests.integration.webhook_receiver import Answer, Receiver, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("platform")]

SAMPLE = Path(__file__).parents[2] / "domain" / "samples" / "sample.json"
# Not a timing assertion: how long to wait before calling the test hung.
DEADLINE_SECONDS = 120.0


@pytest.fixture(scope="module")
def stack(postgres_url, redis_url, tmp_path_factory):
    stack = Stack(postgres_url, redis_url, tmp_path_factory.mktemp("webhook-stack"))
    stack.env["ROTA_WEBHOOK_ALLOW_NETWORKS"] = "127.0.0.0/8"
    try:
        stack.start_api()
        stack.start_worker()
        yield stack
    finally:
        stack.stop()


def wait_for(probe, what: str, stack: Stack):
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.1)
    log = (stack.logs / "worker.log").read_text(errors="replace")[-4000:]
    pytest.fail(f"timed out waiting for {what}; worker log:\n{log}")


def register(client, url: str) -> dict:
    response = client.post("/v1/webhooks", json={"url": url, "events": ["job.succeeded"]})
    assert response.status_code == 201, response.text
    return response.json()


def solve(stack: Stack, client, correlation_id: str) -> dict:
    problem = msgspec.json.decode(SAMPLE.read_bytes())
    problem["options"] = {"time_limit_seconds": 2, "seed": 5, "use_cache": False}
    submitted = client.post(
        "/v1/jobs",
        content=msgspec.json.encode(problem),
        headers={"Content-Type": "application/json", "X-Request-ID": correlation_id},
    )
    assert submitted.status_code == 202, submitted.text
    job = stack.wait_finished(client, submitted.json()["id"])
    assert job["status"] == "succeeded", job
    return job


def deliveries(client, hook: dict) -> list[dict]:
    return client.get(f"/v1/webhooks/{hook['id']}/deliveries").json()["items"]


def delivery_when(stack: Stack, client, hook: dict, reached, what: str) -> dict:
    """The webhook's only delivery, once `reached(delivery)` holds."""

    def probe():
        items = deliveries(client, hook)
        assert len(items) <= 1, items
        return items[0] if items and reached(items[0]) else None

    return wait_for(probe, what, stack)


def test_a_finished_job_is_posted_once_signed_to_the_registered_webhook(stack):
    correlation_id = f"e2e-hook-{uuid.uuid4().hex[:12]}"
    with Receiver() as receiver, stack.client(stack.api_key("hooked")) as client:
        hook = register(client, receiver.url())
        job = solve(stack, client, correlation_id)
        delivery = delivery_when(
            stack, client, hook, lambda d: d["status"] != "pending", "the delivery"
        )

    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 1), delivery
    assert delivery["job_id"] == job["id"]
    [got] = receiver.received
    assert got.signature_valid(hook["secret"])
    assert got.headers["webhook-id"] == delivery["id"]
    assert got.headers["x-request-id"] == correlation_id
    body = msgspec.json.decode(got.body)
    assert (body["type"], body["data"]["job_id"]) == ("job.succeeded", job["id"])
    assert body["data"]["correlation_id"] == correlation_id


def test_a_receiver_down_at_first_gets_the_delivery_from_the_sweep_once_it_is_up(stack):
    port = free_port()  # nothing listens there yet
    with stack.client(stack.api_key("hooked")) as client:
        hook = register(client, Receiver(port).url())
        job = solve(stack, client, f"e2e-down-{uuid.uuid4().hex[:8]}")
        failed = delivery_when(
            stack, client, hook, lambda d: d["last_error"] is not None, "the first attempt"
        )
        assert (failed["status"], failed["attempts"]) == ("pending", 1), failed
        assert "ConnectError" in failed["last_error"]

        with Receiver(port) as receiver:
            # The backoff has passed (as far as the database knows), and beat fires the sweep.
            make_due(stack, failed["id"])
            sweep(stack)
            done = delivery_when(
                stack, client, hook, lambda d: d["status"] != "pending", "the retry"
            )

    assert (done["status"], done["attempts"]) == ("succeeded", 2), done
    [got] = receiver.received
    assert got.signature_valid(hook["secret"])
    assert msgspec.json.decode(got.body)["data"]["job_id"] == job["id"]


def test_a_failed_delivery_is_sent_again_on_request(stack):
    with Receiver() as receiver, stack.client(stack.api_key("hooked")) as client:
        receiver.script = [Answer(410)]  # gone: fails at once, no retry
        hook = register(client, receiver.url())
        solve(stack, client, f"e2e-again-{uuid.uuid4().hex[:8]}")
        failed = delivery_when(
            stack, client, hook, lambda d: d["status"] != "pending", "the first attempt"
        )
        assert (failed["status"], failed["last_status_code"]) == ("failed", 410)

        path = f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/redeliver"
        assert client.post(path).status_code == 202
        done = delivery_when(
            stack, client, hook, lambda d: d["status"] == "succeeded", "the redelivery"
        )

    assert (done["attempts"], done["last_status_code"]) == (1, 204)
    assert [g.headers["webhook-id"] for g in receiver.received] == [failed["id"]] * 2


def make_due(stack: Stack, delivery_id: str) -> None:
    engine = make_admin_engine(stack.database_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                sa.update(webhook_deliveries)
                .where(webhook_deliveries.c.id == uuid.UUID(delivery_id))
                .values(next_attempt_at=sa.func.now())
            )
    finally:
        engine.dispose()


def sweep(stack: Stack) -> None:
    """Publish the sweep as beat does."""
    producer = make_producer_app(Settings(redis_url=stack.env["REDIS_URL"]))
    try:
        producer.send_task(SWEEP_WEBHOOKS_TASK, queue=LIGHT_QUEUE)
    finally:
        producer.close()
