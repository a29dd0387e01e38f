"""`/v1/auth`, `/v1/api-keys`, `/v1/audit-events` and bearer JWTs over HTTP, on the fakes."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import jwt
import msgspec
import pytest

from api.app import create_app, refuse_to_start_without_keys
from api.deps import ApiDeps
from domain.services.identity import NewUser, create_user
from domain.settings import Settings, SettingsError
from domain.tenancy import Role
from tests.fakes import FakeQueue, FixedClock, Store, fake_uow_factory
from tests.unit.api_support import ApiHarness, assert_problem

SECRET = "j" * 64
PASSWORD = "a long and unusual phrase"


class Identity(ApiHarness):
    """The API harness plus people: an admin, a planner and a viewer in tenant A, an admin in B."""

    def __init__(self) -> None:
        super().__init__(settings=Settings(jwt_secret=SECRET), auth_cache_seconds=0.0)
        for tenant, name, role in [
            ("tenant-a", "admin", Role.ADMIN),
            ("tenant-a", "planner", Role.PLANNER),
            ("tenant-a", "viewer", Role.VIEWER),
            ("tenant-b", "admin-b", Role.ADMIN),
        ]:
            create_user(
                NewUser(tenant, f"{name}@example.com", PASSWORD, role), self.uow_factory, self.clock
            )

    def login(self, who: str, password: str = PASSWORD):
        return self.client.post(
            "/v1/auth/login", json={"email": f"{who}@example.com", "password": password}
        )

    def token(self, who: str) -> str:
        return self.login(who).json()["access_token"]


@pytest.fixture
def api() -> Iterator[Identity]:
    with Identity() as harness:
        yield harness


# --- login ------------------------------------------------------------------------------------


def test_login_answers_tokens_that_open_the_api(api):
    response = api.login("planner")

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body.keys() == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    assert api.get("/v1/jobs", key=body["access_token"]).status_code == 200


def test_unknown_user_and_wrong_password_answer_identically(api):
    unknown = api.login("nobody")
    wrong = api.login("planner", password="not the right phrase")

    def comparable(response) -> tuple:
        body = response.json()
        del body["correlation_id"]  # the request's own id
        headers = {k: v for k, v in response.headers.items() if k not in ("x-request-id",)}
        headers.pop("content-length", None)
        return response.status_code, body, headers

    assert_problem(unknown, 401, "INVALID_CREDENTIALS")
    assert comparable(unknown) == comparable(wrong)


def test_a_user_with_mfa_gets_an_mfa_token_that_opens_nothing(api):
    user = next(u for u in api.store.users.values() if u.email == "planner@example.com")
    api.store.users[user.id] = msgspec.structs.replace(user, mfa_enabled=True)

    body = api.login("planner").json()

    assert body["mfa_required"] is True
    assert "access_token" not in body
    assert_problem(api.get("/v1/jobs", key=body["mfa_token"]), 401, "UNAUTHORIZED")


@pytest.mark.parametrize(
    "body",
    [{"email": "a@b.c"}, {"email": "a@b.c", "password": "x", "tenant_id": "t"}, [], "x"],
)
def test_a_login_body_that_breaks_the_schema_is_a_422(api, body):
    response = api.client.post("/v1/auth/login", json=body)

    assert_problem(response, 422, "VALIDATION_FAILED")


# --- access tokens ----------------------------------------------------------------------------


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def forge(api: Identity, **changes) -> str:
    """A token like the planner's, changed: header `alg`/`kid`, the key, or claims."""
    good = api.token("planner")
    payload = {**claims_of(good), **changes.pop("claims", {})}
    alg = changes.pop("alg", "HS256")
    key = changes.pop("key", SECRET)
    headers = {"kid": changes.pop("kid", "k1")}
    if alg == "none":
        return jwt.encode(payload, None, algorithm="none", headers=headers)
    return jwt.encode(payload, key, algorithm=alg, headers=headers)


@pytest.mark.parametrize(
    "changes",
    [
        {"alg": "none"},
        {"alg": "HS512"},
        {"key": "k" * 64},
        {"kid": "k0"},
        {"claims": {"aud": "another-api"}},
        {"claims": {"iss": "someone"}},
        {"claims": {"exp": 1_000}},
        {"claims": {"typ": "mfa"}},
    ],
    ids=["alg-none", "hs512", "wrong-key", "wrong-kid", "audience", "issuer", "expired", "typ"],
)
def test_forged_or_expired_tokens_are_401(api, changes):
    token = forge(api, **changes)

    response = api.get("/v1/jobs", key=token)

    body = assert_problem(response, 401, "UNAUTHORIZED")
    assert "invalid" in body["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_an_access_token_stops_working_after_15_minutes(api):
    token = api.token("planner")

    api.clock.now += dt.timedelta(minutes=14)
    assert api.get("/v1/jobs", key=token).status_code == 200
    api.clock.now += dt.timedelta(minutes=1)
    assert_problem(api.get("/v1/jobs", key=token), 401, "UNAUTHORIZED")


# --- refresh and logout -----------------------------------------------------------------------


def refresh(api: Identity, token: str):
    return api.client.post("/v1/auth/refresh", json={"refresh_token": token})


def test_refresh_rotates_and_a_reuse_revokes_the_family(api):
    first = api.login("planner").json()
    second = refresh(api, first["refresh_token"])
    assert second.status_code == 200
    assert second.json()["refresh_token"] != first["refresh_token"]

    assert_problem(refresh(api, first["refresh_token"]), 401, "INVALID_REFRESH_TOKEN")
    assert_problem(refresh(api, second.json()["refresh_token"]), 401, "INVALID_REFRESH_TOKEN")


def test_logout_revokes_the_refresh_token_and_answers_204_always(api):
    tokens = api.login("planner").json()

    first = api.client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    unknown = api.client.post("/v1/auth/logout", json={"refresh_token": "rotr_unknown"})

    assert (first.status_code, unknown.status_code) == (204, 204)
    assert_problem(refresh(api, tokens["refresh_token"]), 401, "INVALID_REFRESH_TOKEN")


# --- roles ------------------------------------------------------------------------------------


def test_a_viewer_reads_jobs_but_cannot_submit_or_cancel(api):
    viewer = api.token("viewer")
    job = api.add_job(api.tenant_a.id)

    assert api.get(f"/v1/jobs/{job.id}", key=viewer).status_code == 200
    body = assert_problem(api.submit(key=viewer), 403, "FORBIDDEN")
    assert "viewer" in body["detail"]
    cancel = api.client.post(f"/v1/jobs/{job.id}/cancel", headers=api.auth(viewer))
    assert_problem(cancel, 403, "FORBIDDEN")
    assert api.queue.sent == []


@pytest.mark.parametrize("who", ["planner", "service-key", "admin"])
def test_planners_admins_and_service_keys_submit(api, who):
    key = api.issue_key("tenant-a", Role.SERVICE) if who == "service-key" else api.token(who)

    assert api.submit(key=key).status_code == 202


SOME_ID = uuid.UUID(int=7)  # fixed: test ids must be the same in every xdist worker
ADMIN_ROUTES = [
    ("post", "/v1/api-keys", {"name": "x"}),
    ("get", "/v1/api-keys", None),
    ("delete", f"/v1/api-keys/{SOME_ID}", None),
    ("post", "/v1/webhooks", {"url": "https://example.com/h"}),
    ("get", "/v1/webhooks", None),
    ("delete", f"/v1/webhooks/{SOME_ID}", None),
    ("get", "/v1/audit-events", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ADMIN_ROUTES)
@pytest.mark.parametrize("who", ["planner", "viewer", "service-key"])
def test_only_admins_manage_keys_and_webhooks_and_read_the_audit_log(api, who, method, path, body):
    key = api.issue_key("tenant-a", Role.SERVICE) if who == "service-key" else api.token(who)
    kwargs = {"json": body} if body is not None else {}

    response = api.client.request(method.upper(), path, headers=api.auth(key), **kwargs)

    assert_problem(response, 403, "FORBIDDEN")


# --- API keys ---------------------------------------------------------------------------------


def test_an_api_key_is_shown_once_listed_by_prefix_and_revocable(api):
    admin = api.token("admin")
    created = api.client.post(
        "/v1/api-keys", json={"name": "ci", "role": "service"}, headers=api.auth(admin)
    )
    assert created.status_code == 201
    assert created.headers["cache-control"] == "no-store"
    key = created.json()
    assert key["key"].startswith(key["prefix"])
    assert api.submit(key=key["key"]).status_code == 202

    listing = api.get("/v1/api-keys", key=admin).json()["items"]
    mine = next(k for k in listing if k["id"] == key["id"])
    assert "key" not in mine
    assert key["key"] not in str(listing)
    assert mine["prefix"] == key["prefix"]
    assert mine["name"] == "ci"
    assert mine["last_used_at"] is not None  # the submit above
    assert mine["revoked_at"] is None

    revoked = api.client.delete(f"/v1/api-keys/{key['id']}", headers=api.auth(admin))
    assert revoked.status_code == 204
    assert_problem(api.get("/v1/jobs", key=key["key"]), 401, "UNAUTHORIZED")
    listing = api.get("/v1/api-keys", key=admin).json()["items"]
    assert next(k for k in listing if k["id"] == key["id"])["revoked_at"] is not None


def test_a_key_name_with_control_characters_is_refused(api):
    response = api.client.post(
        "/v1/api-keys", json={"name": "a\x1b[31mb"}, headers=api.auth(api.token("admin"))
    )

    assert_problem(response, 400, "INVALID_KEY_NAME")


def test_a_key_name_holding_markup_is_stored_without_it(api):
    response = api.client.post(
        "/v1/api-keys",
        json={"name": "ci <script>alert(1)</script>bot & co"},
        headers=api.auth(api.token("admin")),
    )

    assert response.status_code == 201, response.text
    assert response.json()["name"] == "ci bot & co"


# --- tenants ----------------------------------------------------------------------------------


def test_another_tenants_ids_answer_404_on_every_object_route(api):
    job = api.add_job(api.tenant_a.id)
    hook = api.client.post(
        "/v1/webhooks",
        json={"url": "https://93.184.215.14/hook"},
        headers=api.auth(api.token("admin")),
    ).json()
    key_id = next(k.id for k in api.store.api_keys.values() if k.tenant_id == api.tenant_a.id)
    other = api.auth(api.token("admin-b"))

    for method, path, code in [
        ("GET", f"/v1/jobs/{job.id}", "JOB_NOT_FOUND"),
        ("GET", f"/v1/jobs/{job.id}/solution", "JOB_NOT_FOUND"),
        ("GET", f"/v1/jobs/{job.id}/assignments", "JOB_NOT_FOUND"),
        ("POST", f"/v1/jobs/{job.id}/cancel", "JOB_NOT_FOUND"),
        ("DELETE", f"/v1/webhooks/{hook['id']}", "WEBHOOK_NOT_FOUND"),
        ("GET", f"/v1/webhooks/{hook['id']}/deliveries", "WEBHOOK_NOT_FOUND"),
        (
            "POST",
            f"/v1/webhooks/{hook['id']}/deliveries/{uuid.uuid4()}/redeliver",
            "WEBHOOK_NOT_FOUND",
        ),
        ("DELETE", f"/v1/api-keys/{key_id}", "API_KEY_NOT_FOUND"),
    ]:
        assert_problem(api.client.request(method, path, headers=other), 404, code)
    assert api.store.api_keys[key_id].revoked_at is None
    assert api.store.jobs[job.id].cancel_requested_at is None


def test_the_audit_log_shows_the_tenants_events_to_its_admins_only(api):
    api.login("planner", password="not the right phrase")
    api.login("planner")
    api.login("admin-b")
    admin = api.token("admin")

    events = api.get("/v1/audit-events", key=admin).json()["items"]
    other = api.get("/v1/audit-events", key=api.token("admin-b")).json()["items"]

    kinds = [e["kind"] for e in events]
    assert kinds[:3] == ["login.succeeded", "login.succeeded", "login.failed"]
    assert {e["id"] for e in events}.isdisjoint({e["id"] for e in other})
    users_a = {u.id for u in api.store.users.values() if u.tenant_id == api.tenant_a.id}
    assert {uuid.UUID(e["user_id"]) for e in events if e["user_id"]} <= users_a


def test_the_audit_log_is_paginated_newest_first(api):
    admin = api.token("admin")
    api.client.post("/v1/api-keys", json={"name": "one"}, headers=api.auth(admin))

    first = api.get("/v1/audit-events?limit=1", key=admin).json()
    second = api.get(f"/v1/audit-events?limit=1&cursor={first['next_cursor']}", key=admin).json()

    assert first["items"][0]["kind"] == "api_key.created"
    assert second["items"][0]["kind"] == "login.succeeded"
    assert_problem(api.get("/v1/audit-events?cursor=zzz", key=admin), 400, "INVALID_CURSOR")


# --- start-up ---------------------------------------------------------------------------------


def test_outside_development_the_api_refuses_to_start_without_a_jwt_secret():
    settings = Settings(environment="production")

    with pytest.raises(SystemExit) as exit_:
        refuse_to_start_without_keys(settings)
    with pytest.raises(SettingsError):
        create_app(
            ApiDeps(
                settings=settings,
                uow_factory=fake_uow_factory(Store()),
                queue=FakeQueue(),
                clock=FixedClock(),
            )
        )

    message = str(exit_.value.code)
    assert message.startswith("rota: bad setting: ROTA_JWT_SECRET must be set")
    assert "\n" not in message
