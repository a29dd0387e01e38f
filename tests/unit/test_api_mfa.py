"""`/v1/auth/mfa` over HTTP on the fakes: enrolment, login with each factor, replay, step-up
checks, the e-mailed code, the admin enrolment policy and rate."""

from __future__ import annotations

import datetime as dt
import re
from base64 import b64encode
from collections.abc import Iterator

import pytest

from api.app import refuse_to_start_without_keys
from domain.identity import AuditKind
from domain.mfa import totp
from domain.mfa.keyring import Keyring, new_key_spec
from domain.services.identity import NewUser, create_user
from domain.settings import Settings
from domain.tenancy import Role
from tests.mfa_fakes import FakeMailer
from tests.unit.api_support import ApiHarness, assert_problem

PASSWORD = "a long and unusual phrase"
SETTINGS = Settings(jwt_secret="j" * 64, mfa_grace_days=7)


class Mfa(ApiHarness):
    """The API harness with an admin and a planner in tenant A, and a mailer that keeps mail."""

    def __init__(self) -> None:
        self.mailer = FakeMailer()
        super().__init__(settings=SETTINGS, auth_cache_seconds=0.0, mailer=self.mailer)
        for name, role in [("admin", Role.ADMIN), ("planner", Role.PLANNER)]:
            create_user(
                NewUser("tenant-a", f"{name}@example.com", PASSWORD, role),
                self.uow_factory,
                self.clock,
            )
        self.secret = ""

    def login(self, who: str = "planner") -> dict:
        response = self.client.post(
            "/v1/auth/login", json={"email": f"{who}@example.com", "password": PASSWORD}
        )
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, body: dict | None = None, *, token: str | None = None):
        headers = self.auth(token) if token else {}
        return self.client.post(f"/v1/auth/mfa{path}", json=body, headers=headers)

    def code(self, steps_ahead: int = 0) -> str:
        return totp.code_at(self.secret, totp.time_step(self.clock.now) + steps_ahead)

    def enrol(self, who: str = "planner") -> list[str]:
        token = self.login(who)["access_token"]
        setup = self.client.post("/v1/auth/mfa/totp/setup", headers=self.auth(token))
        assert setup.status_code == 200, setup.text
        self.secret = setup.json()["secret"]
        confirm = self.post("/totp/confirm", {"code": self.code()}, token=token)
        assert confirm.status_code == 200, confirm.text
        self.clock.now += dt.timedelta(seconds=totp.STEP_SECONDS)
        return confirm.json()["backup_codes"]


@pytest.fixture
def api() -> Iterator[Mfa]:
    with Mfa() as harness:
        yield harness


def test_setup_answers_secret_uri_and_svg_without_caching(api):
    token = api.login()["access_token"]

    response = api.client.post("/v1/auth/mfa/totp/setup", headers=api.auth(token))

    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body.keys() == {"secret", "otpauth_uri", "qr_svg"}
    assert body["secret"] in body["otpauth_uri"]
    assert body["qr_svg"].lstrip().startswith("<svg")


def test_setup_needs_a_user_token(api):
    assert_problem(api.client.post("/v1/auth/mfa/totp/setup"), 401, "UNAUTHORIZED")
    key = api.auth(api.key_a)
    assert_problem(api.client.post("/v1/auth/mfa/totp/setup", headers=key), 401, "UNAUTHORIZED")


def test_confirm_shows_ten_backup_codes_and_login_then_asks_for_mfa(api):
    codes = api.enrol()

    assert len(codes) == 10
    answer = api.login()
    assert answer["mfa_required"] is True
    assert "access_token" not in answer


def test_verify_with_totp_answers_tokens_once_and_refuses_the_replay(api):
    api.enrol()
    mfa_token = api.login()["mfa_token"]
    code = api.code()

    first = api.post("/verify", {"mfa_token": mfa_token, "code": code})
    # The replay comes with a new login's mfa_token (the first token is spent).
    replay = api.post("/verify", {"mfa_token": api.login()["mfa_token"], "code": code})

    assert first.status_code == 200, first.text
    assert first.json().keys() == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert api.get("/v1/jobs", key=first.json()["access_token"]).status_code == 200
    assert_problem(replay, 401, "MFA_CODE_INVALID")
    assert AuditKind.MFA_REPLAY in [e.kind for e in api.store.audit]


def test_verify_with_a_backup_code_works_once(api):
    codes = api.enrol()
    mfa_token = api.login()["mfa_token"]

    assert api.post("/verify", {"mfa_token": mfa_token, "backup_code": codes[0]}).status_code == 200
    again = api.post("/verify", {"mfa_token": api.login()["mfa_token"], "backup_code": codes[0]})

    assert_problem(again, 401, "MFA_CODE_INVALID")


def test_an_mfa_token_is_spent_once_its_login_completes(api):
    codes = api.enrol()
    mfa_token = api.login()["mfa_token"]
    assert api.post("/verify", {"mfa_token": mfa_token, "backup_code": codes[0]}).status_code == 200

    reused = api.post("/verify", {"mfa_token": mfa_token, "backup_code": codes[1]})
    mail = api.post("/email", {"mfa_token": mfa_token})

    assert_problem(reused, 401, "MFA_TOKEN_INVALID")
    assert_problem(mail, 401, "MFA_TOKEN_INVALID")
    fresh = api.post("/verify", {"mfa_token": api.login()["mfa_token"], "backup_code": codes[1]})
    assert fresh.status_code == 200  # the unused backup code was not consumed by the refusal


def test_verify_with_an_emailed_code(api):
    api.enrol()
    mfa_token = api.login()["mfa_token"]

    sent = api.post("/email", {"mfa_token": mfa_token})
    code = re.search(r"\b(\d{6})\b", api.mailer.sent[-1].body).group(1)

    assert sent.status_code == 202
    assert api.mailer.sent[-1].to == "planner@example.com"
    assert api.post("/verify", {"mfa_token": mfa_token, "email_code": code}).status_code == 200


def test_the_fourth_email_in_fifteen_minutes_is_429_with_retry_after(api):
    api.enrol()
    mfa_token = api.login()["mfa_token"]
    for _ in range(3):
        assert api.post("/email", {"mfa_token": mfa_token}).status_code == 202

    response = api.post("/email", {"mfa_token": mfa_token})

    assert_problem(response, 429, "MFA_EMAIL_LIMIT")
    assert int(response.headers["retry-after"]) > 0


def test_an_access_token_is_not_an_mfa_token(api):
    api.enrol()
    access = api.login("admin")["access_token"]

    response = api.post("/verify", {"mfa_token": access, "code": api.code()})

    assert_problem(response, 401, "MFA_TOKEN_INVALID")


def test_an_mfa_token_does_not_open_normal_routes(api):
    api.enrol()
    mfa_token = api.login()["mfa_token"]

    assert_problem(api.get("/v1/jobs", key=mfa_token), 401, "UNAUTHORIZED")


def test_verify_needs_exactly_one_factor(api):
    api.enrol()
    mfa_token = api.login()["mfa_token"]

    response = api.post("/verify", {"mfa_token": mfa_token, "code": "1", "backup_code": "2"})

    assert_problem(response, 400, "MFA_FACTOR_REQUIRED")


def test_disabling_needs_a_fresh_factor(api):
    codes = api.enrol()
    mfa_token = api.login()["mfa_token"]
    access = api.post("/verify", {"mfa_token": mfa_token, "backup_code": codes[0]}).json()[
        "access_token"
    ]

    refused = api.client.request(
        "DELETE", "/v1/auth/mfa", json={"backup_code": codes[0]}, headers=api.auth(access)
    )
    done = api.client.request(
        "DELETE", "/v1/auth/mfa", json={"backup_code": codes[1]}, headers=api.auth(access)
    )

    assert_problem(refused, 401, "MFA_CODE_INVALID")
    assert done.status_code == 204
    assert "access_token" in api.login()


def test_backup_codes_regenerate_with_a_fresh_factor(api):
    old = api.enrol()
    mfa_token = api.login()["mfa_token"]
    access = api.post("/verify", {"mfa_token": mfa_token, "code": api.code()}).json()[
        "access_token"
    ]
    api.clock.now += dt.timedelta(seconds=totp.STEP_SECONDS)

    response = api.post("/backup-codes", {"code": api.code()}, token=access)

    assert response.status_code == 200, response.text
    new = response.json()["backup_codes"]
    assert len(new) == 10
    assert set(new).isdisjoint(old)


def test_an_admin_past_the_grace_period_enrols_with_the_mfa_token_and_gets_tokens(api):
    api.clock.now += dt.timedelta(days=8)
    answer = api.login("admin")
    assert answer["mfa_enrollment_required"] is True
    assert answer["mfa_required"] is False

    setup = api.post("/totp/setup", {"mfa_token": answer["mfa_token"]})
    api.secret = setup.json()["secret"]
    confirm = api.post("/totp/confirm", {"code": api.code(), "mfa_token": answer["mfa_token"]})

    assert confirm.status_code == 200, confirm.text
    assert len(confirm.json()["backup_codes"]) == 10
    access = confirm.json()["tokens"]["access_token"]
    assert api.get("/v1/auth/mfa/enrollment", key=access).status_code == 200


def test_enrollment_rate_is_for_admins(api):
    api.enrol("admin")
    admin = api.login("admin")["mfa_token"]
    access = api.post("/verify", {"mfa_token": admin, "code": api.code()}).json()["access_token"]

    response = api.get("/v1/auth/mfa/enrollment", key=access)
    planner = api.get("/v1/auth/mfa/enrollment", key=api.login()["access_token"])

    assert response.json() == {
        "users": 2,
        "enrolled": 1,
        "rate": 0.5,
        "admins": 1,
        "admins_enrolled": 1,
    }
    assert_problem(planner, 403, "FORBIDDEN")


def test_repeated_mfa_failures_lock_the_account_with_429(api):
    api.enrol()
    mfa_token = api.login()["mfa_token"]
    for _ in range(5):
        wrong = api.post("/verify", {"mfa_token": mfa_token, "backup_code": "zzzzz-zzzzz"})
        assert_problem(wrong, 401, "MFA_CODE_INVALID")

    locked = api.post("/verify", {"mfa_token": mfa_token, "code": api.code()})

    assert_problem(locked, 429, "ACCOUNT_LOCKED")
    assert int(locked.headers["retry-after"]) >= 1


def test_creating_an_api_key_needs_a_fresh_factor_once_mfa_is_on(api):
    api.enrol("admin")
    admin = api.login("admin")["mfa_token"]
    access = api.post("/verify", {"mfa_token": admin, "code": api.code()}).json()["access_token"]
    api.clock.now += dt.timedelta(seconds=totp.STEP_SECONDS)
    headers = api.auth(access)

    bare = api.client.post("/v1/api-keys", json={"name": "ci"}, headers=headers)
    proved = api.client.post(
        "/v1/api-keys", json={"name": "ci", "code": api.code()}, headers=headers
    )

    assert_problem(bare, 400, "MFA_FACTOR_REQUIRED")
    assert proved.status_code == 201, proved.text


def test_outside_development_the_api_refuses_to_start_without_a_totp_key():
    settings = Settings(jwt_secret="j" * 64, environment="production")

    with pytest.raises(SystemExit) as exit_:
        refuse_to_start_without_keys(settings)

    assert "ROTA_TOTP_ENCRYPTION_KEY" in str(exit_.value.code)
    key = Keyring.from_spec(new_key_spec()).keys["k1"]
    good = Settings(
        jwt_secret="j" * 64, environment="production", totp_encryption_key=b64encode(key).decode()
    )
    with pytest.raises(SystemExit) as exit_:
        refuse_to_start_without_keys(good)  # the webhook key is missing now
    assert "ROTA_WEBHOOK_ENCRYPTION_KEY" in str(exit_.value.code)
    complete = Settings(
        jwt_secret="j" * 64,
        environment="production",
        totp_encryption_key=b64encode(key).decode(),
        webhook_encryption_key=b64encode(key).decode(),
    )
    refuse_to_start_without_keys(complete)  # no exit
