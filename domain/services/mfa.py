"""MFA use cases: TOTP enrolment, the second factor of a login, step-up checks, disabling,
backup codes, and the tenant's enrolment rate (issue 4, "MFA").

Every code is single use, enforced by one guarded UPDATE in the repository (a TOTP time step
newer than the last accepted one; a backup or e-mailed code not used yet), so of two
concurrent requests with the same code exactly one wins. A failure is counted on the account
(across client IPs), audited and committed before the error is raised.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from domain.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from domain.identity import AuditKind, User
from domain.mail import Mailer
from domain.mfa import codes, totp
from domain.mfa.keyring import Keyring, SecretUnreadable
from domain.mfa.policy import Proof
from domain.mfa_ports import EnrollmentCount
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.services.audit import record
from domain.services.identity import TokenPair, issue_tokens
from domain.services.lockout import count_failure, refuse_if_locked
from domain.settings import Settings

log = logging.getLogger(__name__)

# One answer for a wrong code, a replayed one, a used backup code and an expired e-mailed
# code: which of them it was is in the audit log, not in the response.
CODE_INVALID = "the code is wrong, expired or already used"


@dataclass(frozen=True)
class Mfa:
    """The collaborators of the MFA use cases."""

    uow_factory: UnitOfWorkFactory
    keyring: Keyring
    clock: Clock
    settings: Settings
    mailer: Mailer | None = None


@dataclass(frozen=True)
class TotpSetup:
    secret: str
    otpauth_uri: str
    qr_svg: str


def setup_totp(mfa: Mfa, user_id: uuid.UUID, *, login: int | None = None) -> TotpSetup:
    """A new pending secret for the user; MFA is on only once a code confirms it. `login`:
    the login marker of the caller's mfa_token (None: the caller has an access token)."""
    secret = totp.new_secret()
    with mfa.uow_factory() as uow:
        user = _user(uow, user_id, login)
        if user.mfa_enabled:
            # Replacing a live secret must go through DELETE /v1/auth/mfa (a fresh check).
            raise Conflict("MFA is already enabled; disable it first", code="MFA_ALREADY_ENABLED")
        uow.mfa.set_totp_secret(user.id, mfa.keyring.encrypt(secret, context=str(user.id)))
        uow.commit()
    uri = totp.provisioning_uri(secret, user.email)
    return TotpSetup(secret=secret, otpauth_uri=uri, qr_svg=totp.qr_svg(uri))


@dataclass(frozen=True)
class Enrolled:
    backup_codes: list[str]  # shown this once
    tokens: TokenPair | None  # when the enrolment finished a login


def confirm_totp(mfa: Mfa, user_id: uuid.UUID, code: str, *, login: int | None = None) -> Enrolled:
    """Turn MFA on with a code of the pending secret: the 10 backup codes, and with `login`
    (the marker of the mfa_token of an admin who had to enrol to log in) the login's tokens."""
    finish_login = login is not None
    backup = codes.new_backup_codes()
    with mfa.uow_factory() as uow:
        user = _user(uow, user_id, login)
        if user.mfa_enabled:
            raise Conflict("MFA is already enabled", code="MFA_ALREADY_ENABLED")
        if not user.totp_secret_encrypted:
            raise Conflict("set up TOTP first", code="MFA_SETUP_REQUIRED")
        now = mfa.clock()
        refuse_if_locked(user, now)
        step = totp.matching_step(_secret(mfa, user), code, now)
        if step is None:
            _fail(uow, user, now, AuditKind.MFA_FAILED, {"method": "totp", "stage": "confirm"})
            uow.commit()
            raise Unauthorized(CODE_INVALID, code="MFA_CODE_INVALID")
        # The confirming code's step counts as used: it cannot complete a login afterwards.
        uow.mfa.enable(user.id, when=now, step=step)
        uow.mfa.replace_backup_codes(
            user.id, [codes.backup_code_hash(mfa.keyring, user.id, c) for c in backup]
        )
        record(uow, AuditKind.MFA_ENROLLED, tenant_id=user.tenant_id, user_id=user.id, now=now)
        pair = (
            issue_tokens(uow, user, mfa.clock, mfa.settings, method="totp")
            if finish_login
            else None
        )
        uow.commit()
    return Enrolled(backup, pair)


def verify_login(mfa: Mfa, user_id: uuid.UUID, proof: Proof, *, login: int) -> TokenPair:
    """The second factor of a login (the user and `login` marker are from a valid mfa_token,
    which completes one login at most): tokens."""
    with mfa.uow_factory() as uow:
        _user(uow, user_id, login)
        user = _checked(mfa, uow, user_id, proof)
        pair = issue_tokens(uow, user, mfa.clock, mfa.settings, method=proof.method or "")
        uow.commit()
    return pair


def disable(mfa: Mfa, user_id: uuid.UUID, proof: Proof) -> None:
    """MFA off, after a fresh check of a second factor (a stolen access token alone cannot)."""
    with mfa.uow_factory() as uow:
        user = _checked(mfa, uow, user_id, proof)
        uow.mfa.disable(user.id)
        record(
            uow, AuditKind.MFA_DISABLED, tenant_id=user.tenant_id, user_id=user.id, now=mfa.clock()
        )
        uow.commit()


def regenerate_backup_codes(mfa: Mfa, user_id: uuid.UUID, proof: Proof) -> list[str]:
    """10 new backup codes (the old ones stop working), after a fresh check."""
    backup = codes.new_backup_codes()
    with mfa.uow_factory() as uow:
        user = _checked(mfa, uow, user_id, proof)
        uow.mfa.replace_backup_codes(
            user.id, [codes.backup_code_hash(mfa.keyring, user.id, c) for c in backup]
        )
        record(
            uow,
            AuditKind.MFA_ENROLLED,
            tenant_id=user.tenant_id,
            user_id=user.id,
            now=mfa.clock(),
            detail={"backup_codes": "regenerated"},
        )
        uow.commit()
    return backup


def check_fresh(mfa: Mfa, user_id: uuid.UUID, proof: Proof) -> None:
    """A step-up check for other use cases (creating API keys): a user with MFA on must give
    a valid second factor now (the code is spent like any other); one without MFA has none
    to give, and the enrolment policy (admins) is enforced at login."""
    with mfa.uow_factory() as uow:
        if not _user(uow, user_id).mfa_enabled:
            return
        _checked(mfa, uow, user_id, proof)
        uow.commit()


def enrollment(uow_factory: UnitOfWorkFactory, tenant_id: uuid.UUID) -> EnrollmentCount:
    """The tenant's MFA enrolment (the admin endpoint and the metric)."""
    with uow_factory(read_only=True) as uow:
        return uow.mfa.enrollment(tenant_id)


def enrollment_by_tenant(uow_factory: UnitOfWorkFactory) -> dict[str, EnrollmentCount]:
    """Every tenant's MFA enrolment, by tenant name (the Prometheus metric)."""
    with uow_factory(read_only=True) as uow:
        return uow.mfa.enrollment_by_tenant()


def _checked(mfa: Mfa, uow: UnitOfWork, user_id: uuid.UUID, proof: Proof) -> User:
    """The user once `proof` is accepted and spent; otherwise the failure is counted, audited
    and committed, and Unauthorized MFA_CODE_INVALID raised."""
    method = proof.method
    if method is None:
        raise InvalidRequest(
            "give exactly one of code, backup_code, email_code", code="MFA_FACTOR_REQUIRED"
        )
    user = _user(uow, user_id)
    if not user.mfa_enabled:
        raise Conflict("MFA is not enabled for this account", code="MFA_NOT_ENABLED")
    now = mfa.clock()
    refuse_if_locked(user, now)
    outcome = _spend(mfa, uow, user, proof, now)
    if outcome != "ok":
        kind = AuditKind.MFA_REPLAY if outcome == "replay" else AuditKind.MFA_FAILED
        _fail(uow, user, now, kind, {"method": method})
        uow.commit()
        raise Unauthorized(CODE_INVALID, code="MFA_CODE_INVALID")
    uow.users.unlock(user.id)  # a success clears the failure count, step-up checks included
    record(
        uow,
        AuditKind.MFA_VERIFIED,
        tenant_id=user.tenant_id,
        user_id=user.id,
        now=now,
        detail={"method": method},
    )
    return user


def _spend(mfa: Mfa, uow: UnitOfWork, user: User, proof: Proof, now: dt.datetime) -> str:
    """ "ok", "replay" (a TOTP step already accepted) or "invalid"."""
    if proof.code:
        step = totp.matching_step(_secret(mfa, user), proof.code, now)
        if step is None:
            return "invalid"
        # The guarded UPDATE decides, not the value read above: a concurrent request with the
        # same code may have claimed the step since.
        if not uow.mfa.claim_totp_step(user.id, step):
            return "replay"
        return "ok"
    if proof.backup_code:
        hashes = codes.backup_code_hashes(mfa.keyring, user.id, proof.backup_code)
        return "ok" if uow.mfa.use_backup_code(user.id, hashes, now) else "invalid"
    hashes = codes.email_code_hashes(mfa.keyring, user.id, proof.email_code or "")
    return "ok" if uow.mfa.use_email_code(user.id, hashes, now) else "invalid"


def _fail(uow: UnitOfWork, user: User, now: dt.datetime, kind: AuditKind, detail: dict) -> None:
    failures = count_failure(uow, user, now)
    record(
        uow,
        kind,
        tenant_id=user.tenant_id,
        user_id=user.id,
        now=now,
        detail={**detail, "failures": failures},
    )


def _user(uow: UnitOfWork, user_id: uuid.UUID, login: int | None = None) -> User:
    user = uow.users.get(user_id)
    if user is None:
        # The token named a user that was deleted since: as if the token were invalid.
        raise NotFound("no such user", code="USER_NOT_FOUND")
    if login is not None and login != user.login_marker:
        # The mfa_token's login has completed (or another has since): it is spent.
        raise Unauthorized("the mfa_token was already used", code="MFA_TOKEN_INVALID")
    return user


def _secret(mfa: Mfa, user: User) -> str:
    try:
        return mfa.keyring.decrypt(user.totp_secret_encrypted or "", context=str(user.id))
    except SecretUnreadable:
        # A lost or wrong ROTA_TOTP_ENCRYPTION_KEY, or a tampered row: an operator's problem,
        # logged, and a 500 for the caller rather than a misleading "wrong code".
        log.error("the TOTP secret of user %s cannot be decrypted", user.id)
        raise
