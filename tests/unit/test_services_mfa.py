"""MFA use cases on the fakes (domain/services/mfa.py, mfa_email.py): enrolment, single-use
codes of every kind, replays audited, the failure counter, the e-mail limit."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from domain.errors import (
    Conflict,
    InvalidRequest,
    ServiceUnavailable,
    TooManyAttempts,
    Unauthorized,
)
from domain.identity import AuditKind
from domain.mfa import totp
from domain.mfa.keyring import Keyring, new_key_spec
from domain.mfa.policy import Proof
from domain.services import identity
from domain.services import mfa as service
from domain.services.identity import NewUser, TokenPair
from domain.services.mfa_email import send_email_code
from domain.services.tenants import create_tenant
from domain.settings import Settings
from domain.tenancy import Role
from tests.fakes import FixedClock, Store, fake_uow_factory
from tests.mfa_fakes import FakeMailer

PASSWORD = "a long and unusual phrase"
SETTINGS = Settings(jwt_secret="j" * 48)


class World:
    def __init__(self) -> None:
        self.store = Store()
        self.uow = fake_uow_factory(self.store)
        self.clock = FixedClock()
        self.mailer = FakeMailer()
        self.mfa = service.Mfa(
            self.uow, Keyring.from_spec(new_key_spec()), self.clock, SETTINGS, self.mailer
        )
        create_tenant("acme", self.uow, self.clock)
        self.user = identity.create_user(
            NewUser("acme", "ann@example.com", PASSWORD, Role.ADMIN), self.uow, self.clock
        )
        self.secret = ""

    def enrol(self) -> list[str]:
        self.secret = service.setup_totp(self.mfa, self.user.id).secret
        return service.confirm_totp(self.mfa, self.user.id, self.code()).backup_codes

    def code(self, steps_ahead: int = 0) -> str:
        return totp.code_at(self.secret, totp.time_step(self.clock.now) + steps_ahead)

    def next_step(self) -> None:
        self.clock.now += dt.timedelta(seconds=totp.STEP_SECONDS)

    def verify(self, **proof: str) -> TokenPair:
        # Each call is the second step of a new login: its mfa_token carries today's marker.
        return service.verify_login(
            self.mfa, self.user.id, Proof(**proof), login=self.stored().login_marker
        )

    def kinds(self) -> list[str]:
        return [e.kind for e in self.store.audit]

    def stored(self):
        return self.store.users[self.user.id]


@pytest.fixture
def w() -> World:
    return World()


def test_setup_stores_the_secret_encrypted_and_mfa_stays_off(w):
    setup = service.setup_totp(w.mfa, w.user.id)

    assert setup.secret not in (w.stored().totp_secret_encrypted or "")
    assert w.stored().totp_secret_encrypted.startswith("v1:")
    assert not w.stored().mfa_enabled
    assert setup.otpauth_uri.startswith("otpauth://totp/")
    assert "<svg" in setup.qr_svg


def test_confirm_turns_mfa_on_and_shows_ten_backup_codes_stored_hashed(w):
    codes = w.enrol()

    assert len(codes) == 10
    assert w.stored().mfa_enabled
    assert w.stored().mfa_enrolled_at is not None
    stored = [c.code_hash for c in w.store.mfa_backup_codes]
    assert len(stored) == 10
    assert not set(codes) & set(stored)
    assert AuditKind.MFA_ENROLLED in w.kinds()


def test_confirm_with_a_wrong_code_leaves_mfa_off(w):
    w.secret = service.setup_totp(w.mfa, w.user.id).secret

    with pytest.raises(Unauthorized) as error:
        service.confirm_totp(w.mfa, w.user.id, "000000" if w.code() != "000000" else "111111")

    assert error.value.code == "MFA_CODE_INVALID"
    assert not w.stored().mfa_enabled


def test_confirm_without_setup_is_a_conflict(w):
    with pytest.raises(Conflict) as error:
        service.confirm_totp(w.mfa, w.user.id, "123456")

    assert error.value.code == "MFA_SETUP_REQUIRED"


def test_setup_again_while_enabled_is_refused(w):
    w.enrol()

    with pytest.raises(Conflict) as error:
        service.setup_totp(w.mfa, w.user.id)

    assert error.value.code == "MFA_ALREADY_ENABLED"


def test_the_confirming_code_cannot_be_used_again_to_log_in(w):
    w.enrol()

    with pytest.raises(Unauthorized):
        w.verify(code=w.code())
    assert AuditKind.MFA_REPLAY in w.kinds()


def test_a_totp_code_logs_in_once_and_its_replay_is_refused_and_audited(w):
    w.enrol()
    w.next_step()
    code = w.code()

    pair = w.verify(code=code)
    with pytest.raises(Unauthorized) as error:
        w.verify(code=code)

    assert pair.access_token
    assert pair.refresh_token
    assert error.value.code == "MFA_CODE_INVALID"
    assert w.kinds().count(AuditKind.MFA_REPLAY) == 1
    assert AuditKind.LOGIN_SUCCEEDED in w.kinds()


def test_an_older_code_in_the_window_is_refused_after_a_newer_one(w):
    w.enrol()
    w.next_step()
    w.next_step()
    w.verify(code=w.code())

    with pytest.raises(Unauthorized):
        w.verify(code=w.code(-1))


def test_a_backup_code_works_once(w):
    codes = w.enrol()

    w.verify(backup_code=codes[3].upper())
    with pytest.raises(Unauthorized) as error:
        w.verify(backup_code=codes[3])

    assert error.value.code == "MFA_CODE_INVALID"
    assert sum(c.used_at is not None for c in w.store.mfa_backup_codes) == 1


def test_regenerated_backup_codes_replace_the_old_ones(w):
    old = w.enrol()
    w.next_step()

    new = service.regenerate_backup_codes(w.mfa, w.user.id, Proof(code=w.code()))

    assert set(new).isdisjoint(old)
    with pytest.raises(Unauthorized):
        w.verify(backup_code=old[0])
    w.verify(backup_code=new[0])


def test_regenerating_needs_a_valid_second_factor(w):
    w.enrol()

    with pytest.raises(Unauthorized):
        service.regenerate_backup_codes(w.mfa, w.user.id, Proof(backup_code="zzzzz-zzzzz"))


def test_exactly_one_factor_is_required(w):
    w.enrol()

    for proof in (Proof(), Proof(code="123456", backup_code="abcde-fghjk")):
        with pytest.raises(InvalidRequest) as error:
            service.verify_login(w.mfa, w.user.id, proof, login=w.stored().login_marker)
        assert error.value.code == "MFA_FACTOR_REQUIRED"


def test_disable_needs_a_fresh_check_and_clears_everything(w):
    codes = w.enrol()
    with pytest.raises(Unauthorized):
        service.disable(w.mfa, w.user.id, Proof(backup_code="zzzzz-zzzzz"))
    assert w.stored().mfa_enabled

    service.disable(w.mfa, w.user.id, Proof(backup_code=codes[0]))

    assert not w.stored().mfa_enabled
    assert w.stored().totp_secret_encrypted is None
    assert w.store.mfa_backup_codes == []
    assert AuditKind.MFA_DISABLED in w.kinds()


def test_verify_for_a_user_without_mfa_is_a_conflict(w):
    with pytest.raises(Conflict) as error:
        w.verify(code="123456")

    assert error.value.code == "MFA_NOT_ENABLED"


# --- e-mailed codes -----------------------------------------------------------------------------


def mailed_code(w: World) -> str:
    return re.search(r"\b(\d{6})\b", w.mailer.sent[-1].body).group(1)


def test_an_emailed_code_is_sent_to_the_user_and_works_once(w):
    w.enrol()

    send_email_code(w.mfa, w.user.id, login=w.stored().login_marker)
    code = mailed_code(w)

    assert w.mailer.sent[-1].to == "ann@example.com"
    assert code not in w.store.mfa_email_codes[0].code_hash
    w.verify(email_code=code)
    with pytest.raises(Unauthorized):
        w.verify(email_code=code)


def test_an_emailed_code_expires_after_ten_minutes(w):
    w.enrol()
    send_email_code(w.mfa, w.user.id, login=w.stored().login_marker)
    w.clock.now += dt.timedelta(minutes=10)

    with pytest.raises(Unauthorized):
        w.verify(email_code=mailed_code(w))


def test_an_emailed_code_works_just_before_it_expires(w):
    w.enrol()
    send_email_code(w.mfa, w.user.id, login=w.stored().login_marker)
    w.clock.now += dt.timedelta(minutes=9, seconds=59)

    w.verify(email_code=mailed_code(w))


def test_three_sends_per_fifteen_minutes_then_429_with_retry_after(w):
    w.enrol()
    for _ in range(3):
        send_email_code(w.mfa, w.user.id, login=w.stored().login_marker)

    with pytest.raises(TooManyAttempts) as error:
        send_email_code(w.mfa, w.user.id, login=w.stored().login_marker)

    assert error.value.code == "MFA_EMAIL_LIMIT"
    assert 0 < error.value.retry_after <= 15 * 60 + 1
    assert len(w.mailer.sent) == 3
    w.clock.now += dt.timedelta(minutes=15)
    send_email_code(w.mfa, w.user.id, login=w.stored().login_marker)
    assert len(w.mailer.sent) == 4


def test_a_mail_failure_is_a_503(w):
    w.enrol()
    w.mailer.fail = True

    with pytest.raises(ServiceUnavailable) as error:
        send_email_code(w.mfa, w.user.id, login=w.stored().login_marker)

    assert error.value.code == "MAIL_UNAVAILABLE"


# --- failure counter ------------------------------------------------------------------------------


def test_mfa_failures_count_on_the_account_then_lock_it(w):
    w.enrol()
    for _ in range(5):
        with pytest.raises(Unauthorized):
            w.verify(backup_code="zzzzz-zzzzz")

    assert w.stored().failed_logins == 5
    assert w.stored().locked_until is not None
    assert AuditKind.ACCOUNT_LOCKED in w.kinds()
    with pytest.raises(TooManyAttempts) as error:
        w.verify(code=w.code(1))  # even a right code: the account is locked
    assert error.value.code == "ACCOUNT_LOCKED"


def test_a_success_clears_the_failure_count(w):
    codes = w.enrol()
    for _ in range(3):
        with pytest.raises(Unauthorized):
            w.verify(backup_code="zzzzz-zzzzz")

    w.verify(backup_code=codes[0])

    assert w.stored().failed_logins == 0


def test_enrollment_counts_people_not_service_keys(w):
    identity.create_user(NewUser("acme", "bob@example.com", PASSWORD, Role.PLANNER), w.uow, w.clock)
    w.enrol()

    count = service.enrollment(w.uow, w.user.tenant_id)

    assert (count.users, count.enrolled, count.admins, count.admins_enrolled) == (2, 1, 1, 1)
    assert count.rate == 0.5


def test_a_step_up_success_also_clears_the_failure_count(w):
    codes = w.enrol()
    for _ in range(2):
        with pytest.raises(Unauthorized):
            w.verify(backup_code="zzzzz-zzzzz")

    service.check_fresh(w.mfa, w.user.id, Proof(backup_code=codes[0]))

    assert w.stored().failed_logins == 0


def test_a_step_up_check_passes_a_user_without_mfa(w):
    service.check_fresh(w.mfa, w.user.id, Proof())

    assert not w.stored().mfa_enabled


def test_an_mfa_token_completes_one_login_only():
    w = World()
    w.enrol()
    issued_under = w.stored().login_marker  # the marker the login's mfa_token carries
    service.verify_login(w.mfa, w.user.id, Proof(code=w.code(1)), login=issued_under)
    w.next_step()
    w.next_step()

    with pytest.raises(Unauthorized) as error:
        service.verify_login(w.mfa, w.user.id, Proof(code=w.code()), login=issued_under)
    assert error.value.code == "MFA_TOKEN_INVALID"
    with pytest.raises(Unauthorized):
        send_email_code(w.mfa, w.user.id, login=issued_under)
    # A new login's token (the current marker) still works.
    assert w.verify(code=w.code())
