"""Users, refresh tokens and security audit events (issue 4, "Identity").

Plain records: the rules live in domain/services/identity.py, the password hashing in
domain/passwords.py and the JWTs in domain/tokens.py.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid
from enum import StrEnum
from typing import Any

import msgspec

from domain.tenancy import Role

# Refresh tokens look different from API keys ("rota_") so neither is ever mistaken for the other.
REFRESH_PREFIX = "rotr_"
MAX_EMAIL_LENGTH = 320  # RFC 3696 errata 1690: 64 + 1 + 255


class User(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    tenant_id: uuid.UUID
    email: str  # normalized (normalize_email): unique across all tenants, since login names none
    password_hash: str
    role: Role
    created_at: dt.datetime
    last_login_at: dt.datetime | None = None
    # MFA state: the columns are written by the MFA use cases (domain/services/mfa*).
    mfa_enabled: bool = False
    totp_secret_encrypted: str | None = None
    totp_last_step: int | None = None
    mfa_enrolled_at: dt.datetime | None = None
    # Per-account failure counter (issue 4, NIST SP 800-63B 5.2.2), kept across client IPs.
    failed_logins: int = 0
    locked_until: dt.datetime | None = None

    @property
    def login_marker(self) -> int:
        """Changes with every completed login. An mfa_token carries the value it was issued
        under, so it completes at most one login (domain/services/mfa.py)."""
        if self.last_login_at is None:
            return 0
        return int(self.last_login_at.timestamp() * 1_000_000)


class RefreshToken(msgspec.Struct, kw_only=True):
    """One link of a rotation chain; all links of one login share `family_id`."""

    id: uuid.UUID
    family_id: uuid.UUID
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    token_hash: str  # hex SHA-256 of the opaque token
    created_at: dt.datetime
    expires_at: dt.datetime
    used_at: dt.datetime | None = None  # set when rotated: presenting it again is a reuse
    revoked_at: dt.datetime | None = None


class AuditKind(StrEnum):
    LOGIN_SUCCEEDED = "login.succeeded"
    LOGIN_FAILED = "login.failed"
    LOGIN_MFA_REQUIRED = "login.mfa_required"
    REFRESH_REUSED = "refresh.reused"
    LOGOUT = "logout"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    USER_CREATED = "user.created"
    # Written by the MFA use cases.
    MFA_ENROLLED = "mfa.enrolled"
    MFA_DISABLED = "mfa.disabled"
    MFA_VERIFIED = "mfa.verified"
    MFA_FAILED = "mfa.failed"
    MFA_REPLAY = "mfa.replay"
    ACCOUNT_LOCKED = "account.locked"
    ACCOUNT_UNLOCKED = "account.unlocked"


class AuditEvent(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    # None for a failed login with an unknown email: it belongs to no tenant.
    tenant_id: uuid.UUID | None
    kind: str  # an AuditKind value; a plain string so new kinds need no migration
    created_at: dt.datetime
    user_id: uuid.UUID | None = None  # whom the event is about
    actor_id: uuid.UUID | None = None  # who did it (a user or an API key), when not the user
    detail: dict[str, Any] | None = None


def normalize_email(email: str) -> str:
    """Case-insensitive comparison for the whole address: people type it either way."""
    return email.strip().casefold()


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    # A fast hash suffices: the token has 256 random bits (as for API keys, domain/tenancy.py).
    return hashlib.sha256(token.encode()).hexdigest()
