"""`/v1/webhooks` over HTTP, on in-memory fakes: registration (SSRF guard included), listing,
deletion, deliveries and redelivery, each scoped to the caller's tenant."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest

from domain.settings import Settings
from domain.webhooks import Delivery, DeliveryStatus, WebhookEvent
from tests.unit.api_support import ApiHarness, assert_problem

# IP literals: the guard needs no DNS for them.
PUBLIC_URL = "https://93.184.215.14/rota-hook"


@pytest.fixture
def api() -> Iterator[ApiHarness]:
    with ApiHarness() as harness:
        yield harness


def register(api: ApiHarness, body: dict, *, key: str | None = None):
    return api.client.post("/v1/webhooks", json=body, headers=api.auth(key or api.key_a))


def created(api: ApiHarness, **body) -> dict:
    response = register(api, {"url": PUBLIC_URL, **body})
    assert response.status_code == 201, response.text
    return response.json()


def add_delivery(api: ApiHarness, webhook_id: str, *, minutes: int = 0) -> Delivery:
    delivery = Delivery(
        id=uuid.uuid4(),
        webhook_id=uuid.UUID(webhook_id),
        job_id=uuid.uuid4(),
        event=WebhookEvent.JOB_FAILED,
        payload=b"{}",
        correlation_id="req-7",
        status=DeliveryStatus.FAILED,
        attempts=12,
        created_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC) + dt.timedelta(minutes=minutes),
        last_status_code=503,
        last_error="HTTP 503: down",
    )
    api.store.deliveries[delivery.id] = delivery
    return delivery


def test_registering_answers_201_with_the_secret_once_and_listing_never_shows_it(api):
    response = register(api, {"url": PUBLIC_URL, "events": ["job.succeeded"]})

    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"/v1/webhooks/{body['id']}"
    assert body["secret"].startswith("whsec_")
    assert (body["url"], body["events"]) == (PUBLIC_URL, ["job.succeeded"])

    listed = api.get("/v1/webhooks").json()["items"]
    assert listed == [{k: v for k, v in body.items() if k != "secret"}]
    assert body["secret"] not in api.get("/v1/webhooks").text


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://127.0.0.1:8080/", "WEBHOOK_URL_FORBIDDEN"),
        ("http://0x7f000001/", "WEBHOOK_URL_FORBIDDEN"),
        ("http://[::ffff:169.254.169.254]/", "WEBHOOK_URL_FORBIDDEN"),
        ("http://10.0.0.8/", "WEBHOOK_URL_FORBIDDEN"),
        ("https://user:pw@93.184.215.14/", "WEBHOOK_URL_INVALID"),
        ("ftp://93.184.215.14/", "WEBHOOK_URL_INVALID"),
        ("not a url", "WEBHOOK_URL_INVALID"),
    ],
)
def test_a_url_the_guard_refuses_is_a_400_with_its_code_and_nothing_is_stored(api, url, code):
    response = register(api, {"url": url})

    assert_problem(response, 400, code)
    assert api.store.webhooks == {}


def test_the_allow_list_opens_a_private_range(api):
    settings = Settings(webhook_allow_networks=("127.0.0.0/8",))
    with ApiHarness(settings=settings) as local:
        response = register(local, {"url": "http://127.0.0.1:9000/hook"})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "body",
    [
        {"url": PUBLIC_URL, "events": ["job.started"]},
        {"url": PUBLIC_URL, "events": []},
        {"url": PUBLIC_URL, "secret": "mine"},
        {"events": ["job.failed"]},
        {"url": ""},
    ],
)
def test_a_body_that_breaks_the_schema_is_a_422_and_nothing_is_stored(api, body):
    assert_problem(register(api, body), 422, "VALIDATION_FAILED")
    assert api.store.webhooks == {}


def test_a_body_that_is_not_json_is_a_415(api):
    response = api.client.post(
        "/v1/webhooks",
        content=b"url=x",
        headers={**api.auth(api.key_a), "Content-Type": "application/x-www-form-urlencoded"},
    )

    assert_problem(response, 415, "UNSUPPORTED_MEDIA_TYPE")


def test_without_a_key_every_route_is_401(api):
    hook = f"/v1/webhooks/{uuid.uuid4()}"
    for method, path in [
        ("POST", "/v1/webhooks"),
        ("GET", "/v1/webhooks"),
        ("DELETE", hook),
        ("GET", f"{hook}/deliveries"),
        ("POST", f"{hook}/deliveries/{uuid.uuid4()}/redeliver"),
    ]:
        assert_problem(api.client.request(method, path), 401, "UNAUTHORIZED")


def test_deleting_answers_204_then_404(api):
    webhook = created(api)

    first = api.client.delete(f"/v1/webhooks/{webhook['id']}", headers=api.auth(api.key_a))
    again = api.client.delete(f"/v1/webhooks/{webhook['id']}", headers=api.auth(api.key_a))

    assert first.status_code == 204
    assert_problem(again, 404, "WEBHOOK_NOT_FOUND")
    assert api.get("/v1/webhooks").json()["items"] == []


def test_another_tenants_webhook_is_404_on_every_route_and_untouched(api):
    webhook = created(api)
    delivery = add_delivery(api, webhook["id"])
    hook = f"/v1/webhooks/{webhook['id']}"
    other = api.auth(api.key_b)

    assert api.get("/v1/webhooks", key=api.key_b).json()["items"] == []
    assert_problem(api.client.delete(hook, headers=other), 404, "WEBHOOK_NOT_FOUND")
    assert_problem(api.client.get(f"{hook}/deliveries", headers=other), 404, "WEBHOOK_NOT_FOUND")
    redeliver = f"{hook}/deliveries/{delivery.id}/redeliver"
    assert_problem(api.client.post(redeliver, headers=other), 404, "WEBHOOK_NOT_FOUND")
    assert api.store.deliveries[delivery.id] == delivery
    assert len(api.store.webhooks) == 1


@pytest.mark.parametrize("webhook_id", ["not-a-uuid", "3f2b8c1e-5a4d-4e6f-9b7a-1c2d3e4f5a6b"])
def test_a_malformed_or_unknown_webhook_id_is_404(api, webhook_id):
    response = api.get(f"/v1/webhooks/{webhook_id}/deliveries")

    assert_problem(response, 404, "WEBHOOK_NOT_FOUND")


def test_deliveries_are_listed_newest_first_with_a_cursor(api):
    webhook = created(api)
    made = [add_delivery(api, webhook["id"], minutes=i) for i in range(3)]
    path = f"/v1/webhooks/{webhook['id']}/deliveries"

    first = api.get(path, params={"limit": 2}).json()
    rest = api.get(path, params={"limit": 2, "cursor": first["next_cursor"]}).json()

    ids = [d["id"] for d in first["items"] + rest["items"]]
    assert ids == [str(d.id) for d in reversed(made)]
    assert rest["next_cursor"] is None
    item = first["items"][0]
    assert (item["status"], item["last_status_code"], item["next_attempt_at"]) == (
        "failed",
        503,
        None,
    )
    assert_problem(api.get(path, params={"cursor": "@@"}), 400, "INVALID_CURSOR")


def test_redelivering_answers_202_with_the_pending_delivery_and_publishes_it(api):
    webhook = created(api)
    delivery = add_delivery(api, webhook["id"])
    path = f"/v1/webhooks/{webhook['id']}/deliveries/{delivery.id}/redeliver"

    response = api.client.post(path, headers=api.auth(api.key_a))

    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["id"], body["status"], body["attempts"]) == (str(delivery.id), "pending", 0)
    assert api.queue.deliveries == [(delivery.id, "req-7")]


@pytest.mark.parametrize("delivery_id", ["nope", "7e6d5c4b-3a29-4817-a6f5-e4d3c2b1a098"])
def test_redelivering_an_unknown_delivery_is_404(api, delivery_id):
    webhook = created(api)
    path = f"/v1/webhooks/{webhook['id']}/deliveries/{delivery_id}/redeliver"

    assert_problem(api.client.post(path, headers=api.auth(api.key_a)), 404, "DELIVERY_NOT_FOUND")
