"""Users, login, refresh rotation and logout on the fakes (domain/services/identity.py)."""

from __future__ import annotations

import datetime as dt

import msgspec
import pytest
from argon2 import PasswordHasher, Type

from domain import passwords
from domain.errors import Conflict, InvalidRequest, Unauthorized
from domain.identity import AuditKind, hash_token
from domain.services import identity
from domain.services.identity import MfaChallenge, NewUser, TokenPair
from domain.services.tenants import create_tenant
from domain.settings import Settings
from domain.tenancy import Role
from domain.tokens import token_keys, verify_access_token, verify_mfa_token
from tests.fakes import FixedClock, Store, fake_uow_factory

PASSWORD = "a long and unusual phrase"
SETTINGS = Settings(jwt_secret="j" * 48)


class World:
    def __init__(self) -> None:
        self.store = Store()
        self.uow = fake_uow_factory(self.store)
        self.clock = FixedClock()
        self.tenant = create_tenant("acme", self.uow, self.clock)

    def user(self, email: str = "Ann@Example.com", role: Role = Role.PLANNER):
        return identity.create_user(NewUser("acme", email, PASSWORD, role), self.uow, self.clock)

    def login(self, email: str = "ann@example.com", password: str = PASSWORD):
        return identity.login(email, password, self.uow, self.clock, SETTINGS, client_ip="10.0.0.9")

    def kinds(self) -> list[str]:
        return [e.kind for e in self.store.audit]


@pytest.fixture
def w() -> World:
    return World()


def test_a_user_is_stored_with_a_normalized_email_and_an_argon2id_hash(w):
    user = w.user()

    stored = w.store.users[user.id]
    assert stored.email == "ann@example.com"
    assert stored.password_hash.startswith("$argon2id$")
    assert PASSWORD not in stored.password_hash
    assert w.kinds() == [AuditKind.USER_CREATED]


def test_emails_are_unique_whatever_their_case(w):
    w.user("ann@example.com")

    with pytest.raises(Conflict) as error:
        w.user("  ANN@example.COM ")
    assert error.value.code == "EMAIL_TAKEN"


@pytest.mark.parametrize(
    ("email", "password", "role", "code"),
    [
        ("ann@example.com", "password1234", Role.PLANNER, "WEAK_PASSWORD"),
        ("ann@example.com", "short", Role.PLANNER, "WEAK_PASSWORD"),
        ("not-an-email", PASSWORD, Role.PLANNER, "INVALID_EMAIL"),
        ("ann@example.com", PASSWORD, Role.SERVICE, "INVALID_ROLE"),
    ],
)
def test_bad_users_are_refused_and_nothing_is_stored(w, email, password, role, code):
    with pytest.raises(InvalidRequest) as error:
        identity.create_user(NewUser("acme", email, password, role), w.uow, w.clock)

    assert error.value.code == code
    assert w.store.users == {}


def test_login_answers_tokens_for_the_user(w):
    user = w.user()

    pair = w.login("ANN@example.com")

    assert isinstance(pair, TokenPair)
    assert pair.token_type == "Bearer"
    assert pair.expires_in == 900
    principal = verify_access_token(
        token_keys(SETTINGS), pair.access_token, now=w.clock().timestamp()
    )
    assert (principal.user_id, principal.tenant_id, principal.role) == (
        user.id,
        w.tenant.id,
        Role.PLANNER,
    )
    (stored,) = w.store.refresh_tokens.values()
    assert stored.token_hash == hash_token(pair.refresh_token)  # only the hash is kept
    assert w.store.users[user.id].last_login_at is not None
    assert w.kinds()[-1] == AuditKind.LOGIN_SUCCEEDED


def test_unknown_user_and_wrong_password_fail_identically_after_the_same_argon2_work(
    w, monkeypatch
):
    w.user()
    verified: list[str] = []
    real = passwords.verify_password

    def counting(password_hash: str, password: str):
        verified.append(password_hash)
        return real(password_hash, password)

    monkeypatch.setattr(identity, "verify_password", counting)

    with pytest.raises(Unauthorized) as unknown:
        w.login("nobody@example.com")
    with pytest.raises(Unauthorized) as wrong:
        w.login(password="not the right phrase")

    assert (unknown.value.code, unknown.value.detail) == (wrong.value.code, wrong.value.detail)
    assert unknown.value.code == "INVALID_CREDENTIALS"
    # Both paths verified one argon2id hash with the same parameters: the dummy, then the user's.
    assert verified[0] == passwords.dummy_hash()
    assert verified[1] == next(iter(w.store.users.values())).password_hash
    assert verified[0].split("$")[3] == verified[1].split("$")[3]  # m=..,t=..,p=..
    assert w.kinds()[-2:] == [AuditKind.LOGIN_FAILED, AuditKind.LOGIN_FAILED]
    assert w.store.audit[-2].tenant_id is None  # an unknown email belongs to no tenant
    assert w.store.audit[-1].tenant_id == w.tenant.id
    assert w.store.refresh_tokens == {}


def test_a_hash_with_old_parameters_is_replaced_at_login(w):
    user = w.user()
    weaker = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1, type=Type.ID)
    old = weaker.hash(PASSWORD)
    w.store.users[user.id] = msgspec.structs.replace(user, password_hash=old)

    assert isinstance(w.login(), TokenPair)

    new = w.store.users[user.id].password_hash
    assert new != old
    assert "$m=19456,t=2,p=1$" in new
    assert passwords.verify_password(new, PASSWORD).ok


def test_a_user_with_mfa_gets_a_challenge_not_tokens(w):
    user = w.user()
    w.store.users[user.id] = msgspec.structs.replace(user, mfa_enabled=True)

    result = w.login()

    assert isinstance(result, MfaChallenge)
    keys = token_keys(SETTINGS)
    assert verify_mfa_token(keys, result.mfa_token, now=w.clock().timestamp()) == user.id
    assert verify_access_token(keys, result.mfa_token, now=w.clock().timestamp()) is None
    assert w.store.refresh_tokens == {}
    assert w.kinds()[-1] == AuditKind.LOGIN_MFA_REQUIRED


def test_refresh_rotates_the_token(w):
    w.user()
    first = w.login()

    second = identity.refresh(first.refresh_token, w.uow, w.clock, SETTINGS)

    assert second.refresh_token != first.refresh_token
    third = identity.refresh(second.refresh_token, w.uow, w.clock, SETTINGS)
    assert isinstance(third, TokenPair)
    assert len({t.family_id for t in w.store.refresh_tokens.values()}) == 1


def test_reusing_a_rotated_token_revokes_the_whole_family(w):
    w.user()
    first = w.login()
    second = identity.refresh(first.refresh_token, w.uow, w.clock, SETTINGS)

    with pytest.raises(Unauthorized) as error:
        identity.refresh(first.refresh_token, w.uow, w.clock, SETTINGS)

    assert error.value.code == "INVALID_REFRESH_TOKEN"
    assert all(t.revoked_at is not None for t in w.store.refresh_tokens.values())
    with pytest.raises(Unauthorized):  # the legitimate newest token is gone too
        identity.refresh(second.refresh_token, w.uow, w.clock, SETTINGS)
    assert AuditKind.REFRESH_REUSED in w.kinds()


def test_other_logins_survive_a_reuse(w):
    w.user()
    phone, laptop = w.login(), w.login()
    identity.refresh(phone.refresh_token, w.uow, w.clock, SETTINGS)

    with pytest.raises(Unauthorized):
        identity.refresh(phone.refresh_token, w.uow, w.clock, SETTINGS)

    assert isinstance(identity.refresh(laptop.refresh_token, w.uow, w.clock, SETTINGS), TokenPair)


@pytest.mark.parametrize("token", ["", "rota_abc", "rotr_unknown", "rotr_" + "x" * 500])
def test_unknown_refresh_tokens_are_refused(w, token):
    with pytest.raises(Unauthorized):
        identity.refresh(token, w.uow, w.clock, SETTINGS)


def test_an_expired_refresh_token_is_refused(w):
    w.user()
    pair = w.login()
    w.clock.now += dt.timedelta(days=SETTINGS.refresh_token_days)

    with pytest.raises(Unauthorized):
        identity.refresh(pair.refresh_token, w.uow, w.clock, SETTINGS)


def test_logout_revokes_the_family_and_is_idempotent(w):
    w.user()
    first = w.login()
    second = identity.refresh(first.refresh_token, w.uow, w.clock, SETTINGS)

    identity.logout(second.refresh_token, w.uow, w.clock)
    identity.logout(second.refresh_token, w.uow, w.clock)
    identity.logout("rotr_never-issued", w.uow, w.clock)

    with pytest.raises(Unauthorized):
        identity.refresh(second.refresh_token, w.uow, w.clock, SETTINGS)
    assert w.kinds().count(AuditKind.LOGOUT) == 2
