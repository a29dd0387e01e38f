"""Access and MFA tokens (domain/tokens.py): one algorithm, one key, one audience per use."""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import uuid

import jwt
import pytest

from domain.settings import Settings, SettingsError
from domain.tenancy import Role
from domain.tokens import (
    MFA_TOKEN_SECONDS,
    _ephemeral_secret,
    issue_access_token,
    issue_mfa_token,
    token_keys,
    verify_access_token,
    verify_mfa_token,
)

SECRET = "s" * 64  # long enough for HS512 too (the forged tokens)
SETTINGS = Settings(jwt_secret=SECRET)
KEYS = token_keys(SETTINGS)
NOW = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)
USER, TENANT = uuid.uuid4(), uuid.uuid4()


def access(keys=KEYS, now=NOW) -> str:
    return issue_access_token(keys, user_id=USER, tenant_id=TENANT, role=Role.PLANNER, now=now)


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def forged(header: dict, payload: dict, key: str | None = SECRET, alg: str = "HS256") -> str:
    if key is None:  # alg=none: no signature at all
        part = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
        return f"{part(header)}.{part(payload)}."
    return jwt.encode(payload, key, algorithm=alg, headers=header)


def at(moment: dt.datetime) -> float:
    return moment.timestamp()


def test_an_access_token_carries_the_claims_and_verifies_to_the_principal():
    token = access()

    c = claims(token)
    assert {c["iss"], c["aud"], c["sub"], c["tenant"], c["role"]} == {
        "rota",
        "rota-api",
        str(USER),
        str(TENANT),
        "planner",
    }
    assert c["exp"] - c["iat"] == 900
    assert c["jti"]
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": "k1"}
    principal = verify_access_token(KEYS, token, now=at(NOW))
    assert (principal.tenant_id, principal.role, principal.user_id) == (TENANT, Role.PLANNER, USER)
    assert principal.key_id is None


def test_alg_none_is_refused():
    payload = claims(access())
    token = forged({"alg": "none", "typ": "JWT", "kid": "k1"}, payload, key=None)

    assert verify_access_token(KEYS, token, now=at(NOW)) is None


def test_another_algorithm_is_refused_even_with_the_right_key():
    token = forged({"kid": "k1"}, claims(access()), alg="HS512")

    assert verify_access_token(KEYS, token, now=at(NOW)) is None


def test_a_token_signed_with_another_key_is_refused():
    token = forged({"kid": "k1"}, claims(access()), key="x" * 64)

    assert verify_access_token(KEYS, token, now=at(NOW)) is None


def test_another_key_id_is_refused():
    token = forged({"kid": "k2"}, claims(access()))

    assert verify_access_token(KEYS, token, now=at(NOW)) is None


def test_an_expired_token_is_refused_from_its_expiry_on():
    token = access()

    assert verify_access_token(KEYS, token, now=at(NOW) + 899) is not None
    assert verify_access_token(KEYS, token, now=at(NOW) + 900) is None


def test_another_audience_or_issuer_is_refused():
    other_audience = token_keys(Settings(jwt_secret=SECRET, jwt_audience="someone-else"))
    other_issuer = token_keys(Settings(jwt_secret=SECRET, jwt_issuer="evil"))

    assert verify_access_token(KEYS, access(other_audience), now=at(NOW)) is None
    assert verify_access_token(KEYS, access(other_issuer), now=at(NOW)) is None


def test_a_token_without_a_required_claim_is_refused():
    payload = claims(access())
    del payload["aud"]

    assert verify_access_token(KEYS, forged({"kid": "k1"}, payload), now=at(NOW)) is None


def test_an_mfa_token_is_no_access_token_and_the_reverse():
    mfa = issue_mfa_token(KEYS, user_id=USER, now=NOW)

    assert verify_access_token(KEYS, mfa, now=at(NOW)) is None
    assert verify_mfa_token(KEYS, mfa, now=at(NOW)) == USER
    assert verify_mfa_token(KEYS, access(), now=at(NOW)) is None
    assert verify_mfa_token(KEYS, mfa, now=at(NOW) + MFA_TOKEN_SECONDS) is None


def test_an_access_token_relabelled_as_mfa_is_refused():
    payload = {**claims(access()), "typ": "mfa"}

    assert verify_access_token(KEYS, forged({"kid": "k1"}, payload), now=at(NOW)) is None


@pytest.mark.parametrize("garbage", ["", "a.b.c", "x" * 5000, "Bearer", "..", "é.é.é"])
def test_garbage_is_refused_without_an_exception(garbage):
    assert verify_access_token(KEYS, garbage, now=at(NOW)) is None


def test_without_a_secret_development_makes_one_ephemeral_key_and_warns(caplog):
    caplog.set_level(logging.WARNING, logger="domain.tokens")
    _ephemeral_secret.cache_clear()

    first = token_keys(Settings(environment="development"))
    second = token_keys(Settings(environment="development"))

    assert first.secret == second.secret
    assert len(first.secret) >= 32
    assert first.secret != SECRET
    warnings = [r for r in caplog.records if "ROTA_JWT_SECRET is not set" in r.getMessage()]
    assert len(warnings) == 1


def test_without_a_secret_any_other_environment_refuses_with_one_line():
    with pytest.raises(SettingsError) as error:
        token_keys(Settings(environment="production"))

    assert "ROTA_JWT_SECRET" in str(error.value)
    assert "\n" not in str(error.value)


# --- key rings (rotation, issue 6) -----------------------------------------------------------

RING_OLD = "k1:" + "a" * 40
RING_NEW = "k2:" + "b" * 40


def test_the_first_key_of_a_ring_signs_and_every_listed_key_verifies():
    old = token_keys(Settings(jwt_secret=RING_OLD))
    token = access(old)
    rotated = token_keys(Settings(jwt_secret=f"{RING_NEW},{RING_OLD}"))

    assert jwt.get_unverified_header(access(rotated))["kid"] == "k2"
    assert verify_access_token(rotated, token, now=at(NOW)) is not None
    assert verify_access_token(rotated, access(rotated), now=at(NOW)) is not None


def test_a_retired_key_no_longer_verifies_its_tokens():
    token = access(token_keys(Settings(jwt_secret=RING_OLD)))
    retired = token_keys(Settings(jwt_secret=RING_NEW))

    assert verify_access_token(retired, token, now=at(NOW)) is None


def test_a_token_naming_a_known_kid_but_signed_by_another_key_is_refused():
    ring = token_keys(Settings(jwt_secret=f"{RING_NEW},{RING_OLD}"))
    impostor = token_keys(Settings(jwt_secret="k1:" + "z" * 40))

    assert verify_access_token(ring, access(impostor), now=at(NOW)) is None


@pytest.mark.parametrize(
    ("ring", "message"),
    [
        ("k1:short", r"32\+ characters"),
        (f"k1:{'a' * 40},k1:{'b' * 40}", "used once"),
        (f"bad-id:{'a' * 40}", "letters and digits"),
    ],
)
def test_a_bad_key_ring_is_refused_naming_the_problem(ring, message):
    with pytest.raises(SettingsError, match=message):
        token_keys(Settings(jwt_secret=ring))
