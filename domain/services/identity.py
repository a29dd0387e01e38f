"""Use cases of people: create a user, log in, refresh and log out (issue 4, "Identity").

A login answers tokens, or an MFA challenge when the user has MFA on; the MFA use cases call
`issue_tokens` once the second factor is right. Refresh tokens rotate on every use, and a
token presented again after its rotation revokes its whole family (RFC 9700 section 4.14.2):
whoever holds a stolen copy loses it as soon as either party uses it twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from domain.errors import Conflict, InvalidRequest, NotFound, Unauthorized
from domain.identity import (
    MAX_EMAIL_LENGTH,
    REFRESH_PREFIX,
    AuditKind,
    RefreshToken,
    User,
    hash_token,
    new_refresh_token,
    normalize_email,
)
from domain.mfa.policy import enrollment_required
from domain.passwords import (
    MAX_LENGTH,
    WeakPassword,
    check_policy,
    dummy_hash,
    hash_password,
    verify_password,
)
from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.services.audit import record
from domain.services.lockout import count_failure, refuse_if_locked
from domain.settings import Settings
from domain.tenancy import Role
from domain.tokens import issue_access_token, issue_mfa_token, token_keys

# One answer for an unknown email and a wrong password: which emails exist is not revealed.
BAD_CREDENTIALS = "the email or password is wrong"
BAD_REFRESH = "the refresh token is invalid, expired or revoked"


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"  # noqa: S105 (RFC 6750 token type, not a secret)


@dataclass(frozen=True)
class MfaChallenge:
    mfa_token: str
    # An admin past the MFA grace period without MFA: the token is good for enrolling only
    # (POST /v1/auth/mfa/totp/setup and /confirm), which then finishes the login.
    enrollment_required: bool = False


@dataclass(frozen=True)
class NewUser:
    tenant_name: str
    email: str
    password: str
    role: Role


def create_user(cmd: NewUser, uow_factory: UnitOfWorkFactory, clock: Clock) -> User:
    email = normalize_email(cmd.email)
    if not _plausible_email(email):
        raise InvalidRequest("not an email address", code="INVALID_EMAIL")
    if cmd.role is Role.SERVICE:
        # Machines authenticate with API keys; a person with role service would be a puzzle.
        raise InvalidRequest("role service is for API keys, not users", code="INVALID_ROLE")
    try:
        check_policy(cmd.password)
    except WeakPassword as error:
        raise InvalidRequest(str(error), code="WEAK_PASSWORD") from None
    password_hash = hash_password(cmd.password)  # slow: outside the transaction
    with uow_factory() as uow:
        tenant = uow.tenants.get_by_name(cmd.tenant_name.strip())
        if tenant is None:
            raise NotFound(f"no tenant {cmd.tenant_name!r}", code="TENANT_NOT_FOUND")
        if uow.users.get_by_email(email) is not None:
            raise Conflict("a user with this email exists", code="EMAIL_TAKEN")
        now = clock()
        user = User(
            id=uuid.uuid4(),
            tenant_id=tenant.id,
            email=email,
            password_hash=password_hash,
            role=cmd.role,
            created_at=now,
        )
        uow.users.add(user)
        record(uow, AuditKind.USER_CREATED, tenant_id=tenant.id, user_id=user.id, now=now)
        uow.commit()
    return user


def _plausible_email(email: str) -> bool:
    local, at, domain = email.rpartition("@")
    return (
        bool(at and local and domain)
        and len(email) <= MAX_EMAIL_LENGTH
        and not any(c.isspace() or ord(c) < 32 for c in email)
    )


def login(
    email: str,
    password: str,
    uow_factory: UnitOfWorkFactory,
    clock: Clock,
    settings: Settings,
    *,
    client_ip: str | None = None,
) -> TokenPair | MfaChallenge:
    """Tokens, or an MFA challenge; Unauthorized INVALID_CREDENTIALS otherwise, the same for an
    unknown email as for a wrong password, after the same argon2 work."""
    email = normalize_email(email)[:MAX_EMAIL_LENGTH]
    detail = {"ip": client_ip} if client_ip else {}
    with uow_factory() as uow:
        user = uow.users.get_by_email(email)
        check = verify_password(user.password_hash if user else dummy_hash(), password)
        now = clock()
        if user is not None:
            refuse_if_locked(user, now)  # even with the right password: that is the lock
        if user is None or not check.ok:
            if user is not None:
                count_failure(uow, user, now)
            record(
                uow,
                AuditKind.LOGIN_FAILED,
                tenant_id=user.tenant_id if user else None,
                user_id=user.id if user else None,
                now=now,
                detail={**detail, "email": email},
            )
            uow.commit()
            raise Unauthorized(BAD_CREDENTIALS, code="INVALID_CREDENTIALS")
        if check.needs_rehash and len(password) <= MAX_LENGTH:
            # The parameters changed since this hash was made: upgrade it while we have the
            # password in hand (the only moment we ever do).
            uow.users.set_password_hash(user.id, hash_password(password))
        enrolling = enrollment_required(user, now, settings.mfa_grace_days)
        if user.mfa_enabled or enrolling:
            keys = token_keys(settings)
            record(
                uow,
                AuditKind.LOGIN_MFA_REQUIRED,
                tenant_id=user.tenant_id,
                user_id=user.id,
                now=now,
                detail={**detail, "enrollment": True} if enrolling else (detail or None),
            )
            uow.commit()
            token = issue_mfa_token(keys, user_id=user.id, now=now, login_marker=user.login_marker)
            return MfaChallenge(token, enrollment_required=enrolling)
        pair = issue_tokens(uow, user, clock, settings, detail=detail or None)
        uow.commit()
    return pair


def issue_tokens(
    uow: UnitOfWork,
    user: User,
    clock: Clock,
    settings: Settings,
    *,
    method: str = "password",
    detail: dict[str, str] | None = None,
) -> TokenPair:
    """Finish a login inside the caller's unit of work (the caller commits): a new refresh
    token family, `last_login_at`, the audit event, and the tokens. The MFA use cases call it
    once the second factor is right (`method` names that factor in the audit log)."""
    now = clock()
    pair = _new_pair(uow, user, now, settings, family_id=uuid.uuid4())
    uow.users.record_login(user.id, now)
    record(
        uow,
        AuditKind.LOGIN_SUCCEEDED,
        tenant_id=user.tenant_id,
        user_id=user.id,
        now=now,
        detail={**(detail or {}), "method": method},
    )
    return pair


def _new_pair(
    uow: UnitOfWork, user: User, now: dt.datetime, settings: Settings, *, family_id: uuid.UUID
) -> TokenPair:
    keys = token_keys(settings)
    secret = new_refresh_token()
    uow.refresh_tokens.add(
        RefreshToken(
            id=uuid.uuid4(),
            family_id=family_id,
            user_id=user.id,
            tenant_id=user.tenant_id,
            token_hash=hash_token(secret),
            created_at=now,
            expires_at=now + dt.timedelta(days=settings.refresh_token_days),
        )
    )
    access = issue_access_token(
        keys, user_id=user.id, tenant_id=user.tenant_id, role=user.role, now=now
    )
    return TokenPair(access_token=access, refresh_token=secret, expires_in=keys.access_seconds)


def _looks_like_refresh_token(token: str) -> bool:
    return token.startswith(REFRESH_PREFIX) and len(token) <= 100 and token.isascii()


def refresh(
    token: str, uow_factory: UnitOfWorkFactory, clock: Clock, settings: Settings
) -> TokenPair:
    """New tokens for a refresh token, which is spent; a spent one revokes its family."""
    invalid = Unauthorized(BAD_REFRESH, code="INVALID_REFRESH_TOKEN")
    if not _looks_like_refresh_token(token):
        raise invalid
    with uow_factory() as uow:
        row = uow.refresh_tokens.get_by_hash(hash_token(token))
        now = clock()
        if row is None or row.revoked_at is not None:
            raise invalid
        # mark_used is one guarded UPDATE: of two concurrent uses, the loser lands here too.
        if row.used_at is not None or not uow.refresh_tokens.mark_used(row.id, now):
            revoked = uow.refresh_tokens.revoke_family(row.family_id, now)
            record(
                uow,
                AuditKind.REFRESH_REUSED,
                tenant_id=row.tenant_id,
                user_id=row.user_id,
                now=now,
                detail={"family_id": str(row.family_id), "revoked": revoked},
            )
            uow.commit()
            raise invalid
        user = uow.users.get(row.user_id, row.tenant_id)
        if row.expires_at <= now or user is None:
            raise invalid
        if enrollment_required(user, now, settings.mfa_grace_days):
            # Refreshing must not outlast the grace period: log in again and enrol.
            raise Unauthorized("MFA enrolment is required", code="MFA_ENROLLMENT_REQUIRED")
        pair = _new_pair(uow, user, now, settings, family_id=row.family_id)
        uow.commit()
    return pair


def logout(token: str, uow_factory: UnitOfWorkFactory, clock: Clock) -> None:
    """Revoke the refresh token's family; an unknown token is quietly ignored (idempotent)."""
    if not _looks_like_refresh_token(token):
        return
    with uow_factory() as uow:
        row = uow.refresh_tokens.get_by_hash(hash_token(token))
        if row is None:
            return
        now = clock()
        uow.refresh_tokens.revoke_family(row.family_id, now)
        record(uow, AuditKind.LOGOUT, tenant_id=row.tenant_id, user_id=row.user_id, now=now)
        uow.commit()
