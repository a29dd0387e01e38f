"""The per-account failure rule (domain/lockout.py) and the login's use of it, and the admin
MFA enrolment policy at login and refresh."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from domain import lockout
from domain.errors import NotFound, TooManyAttempts, Unauthorized
from domain.identity import AuditKind
from domain.services import identity
from domain.services.identity import MfaChallenge, NewUser, TokenPair
from domain.services.lockout import unlock_account
from domain.services.tenants import create_tenant
from domain.settings import Settings
from domain.tenancy import Role
from tests.fakes import FixedClock, Store, fake_uow_factory

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
PASSWORD = "a long and unusual phrase"
SETTINGS = Settings(jwt_secret="j" * 48, mfa_grace_days=7)


def test_the_first_failures_are_free():
    assert all(lockout.locked_until(n, NOW) is None for n in range(1, lockout.FREE_FAILURES))


def test_then_the_delay_doubles_up_to_a_cap():
    delays = [lockout.locked_until(n, NOW) - NOW for n in range(5, 40)]

    assert delays[:4] == [dt.timedelta(seconds=s) for s in (1, 2, 4, 8)]
    assert all(a <= b for a, b in itertools.pairwise(delays))
    assert max(delays) == lockout.MAX_DELAY


def test_at_100_consecutive_failures_the_account_stays_locked():
    # NIST SP 800-63B 5.2.2: no more than 100 consecutive failed attempts.
    assert lockout.locked_until(99, NOW) < NOW + dt.timedelta(days=1)
    assert lockout.locked_until(100, NOW) == lockout.LOCKED_FOR_GOOD


def test_retry_after_rounds_up_and_is_zero_once_passed():
    assert lockout.retry_after(NOW + dt.timedelta(seconds=1.2), NOW) == 2
    assert lockout.retry_after(NOW - dt.timedelta(seconds=1), NOW) == 0
    assert lockout.retry_after(None, NOW) == 0


class World:
    def __init__(self, role: Role = Role.PLANNER) -> None:
        self.store = Store()
        self.uow = fake_uow_factory(self.store)
        self.clock = FixedClock()
        create_tenant("acme", self.uow, self.clock)
        self.user = identity.create_user(
            NewUser("acme", "ann@example.com", PASSWORD, role), self.uow, self.clock
        )

    def login(self, password: str = PASSWORD):
        return identity.login("ann@example.com", password, self.uow, self.clock, SETTINGS)


def test_wrong_passwords_lock_the_account_even_for_the_right_one():
    w = World()
    for _ in range(lockout.FREE_FAILURES):
        with pytest.raises(Unauthorized):
            w.login("wrong password, again")

    with pytest.raises(TooManyAttempts) as error:
        w.login()

    assert error.value.code == "ACCOUNT_LOCKED"
    assert error.value.retry_after >= 1
    assert AuditKind.ACCOUNT_LOCKED in [e.kind for e in w.store.audit]


def test_after_the_delay_the_right_password_works_and_clears_the_count():
    w = World()
    for _ in range(lockout.FREE_FAILURES):
        with pytest.raises(Unauthorized):
            w.login("wrong password, again")
    w.clock.now += dt.timedelta(seconds=2)

    assert isinstance(w.login(), TokenPair)
    stored = w.store.users[w.user.id]
    assert (stored.failed_logins, stored.locked_until) == (0, None)


def test_an_admin_within_the_grace_period_gets_tokens():
    w = World(Role.ADMIN)

    assert isinstance(w.login(), TokenPair)


def test_an_admin_past_the_grace_period_must_enrol():
    w = World(Role.ADMIN)
    w.clock.now += dt.timedelta(days=7)

    answer = w.login()

    assert isinstance(answer, MfaChallenge)
    assert answer.enrollment_required


def test_a_planner_past_the_grace_period_is_not_forced():
    w = World(Role.PLANNER)
    w.clock.now += dt.timedelta(days=30)

    assert isinstance(w.login(), TokenPair)


def test_refresh_stops_at_the_end_of_the_grace_period():
    w = World(Role.ADMIN)
    pair = w.login()
    w.clock.now += dt.timedelta(days=7)

    with pytest.raises(Unauthorized) as error:
        identity.refresh(pair.refresh_token, w.uow, w.clock, SETTINGS)

    assert error.value.code == "MFA_ENROLLMENT_REQUIRED"


def test_at_100_failures_only_an_administrator_opens_the_account():
    w = World()
    with w.uow() as uow:
        for _ in range(lockout.MAX_FAILURES - 1):
            uow.users.record_failure(w.user.id)
        uow.commit()
    with pytest.raises(Unauthorized):
        w.login("wrong password, again")  # the 100th
    w.clock.now += dt.timedelta(days=365)
    with pytest.raises(TooManyAttempts):
        w.login()

    unlock_account("Ann@Example.com", w.uow, w.clock)

    assert isinstance(w.login(), TokenPair)
    assert AuditKind.ACCOUNT_UNLOCKED in [e.kind for e in w.store.audit]


def test_unlocking_an_unknown_email_is_not_found():
    w = World()

    with pytest.raises(NotFound) as error:
        unlock_account("nobody@example.com", w.uow, w.clock)

    assert error.value.code == "USER_NOT_FOUND"
