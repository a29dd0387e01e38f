"""Wire types of `/v1/auth`, `/v1/api-keys` and `/v1/audit-events` (as api/schemas.py).

An API key's secret appears in one type only, the answer to its creation.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any

import msgspec

from api.schemas import Wire
from domain.identity import MAX_EMAIL_LENGTH, AuditEvent
from domain.services.api_keys import MAX_NAME_LENGTH
from domain.services.audit import AuditPage
from domain.services.identity import MfaChallenge, TokenPair
from domain.services.tenants import IssuedKey
from domain.tenancy import ApiKey, Role

AUTH_PATH = "/v1/auth"
API_KEYS_PATH = "/v1/api-keys"
AUDIT_PATH = "/v1/audit-events"
# Longer than any password the policy accepts (domain/passwords.py), so a too-long one is
# simply wrong; far too short to make argon2 or the body parser work hard.
MAX_PASSWORD_FIELD = 1024
MAX_TOKEN_FIELD = 200


class _Body(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


class LoginRequest(_Body):
    email: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_EMAIL_LENGTH)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_PASSWORD_FIELD)]


class RefreshRequest(_Body):
    refresh_token: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOKEN_FIELD)]


class TokenView(Wire):
    access_token: str
    refresh_token: str
    token_type: str
    expires_in: int  # seconds of the access token


class MfaChallengeView(Wire):
    mfa_required: bool
    mfa_token: str  # good only for POST /v1/auth/mfa/verify, for 5 minutes
    # An admin past the grace period without MFA (mfa_required is then false): the token is
    # good only for enrolling (/v1/auth/mfa/totp/setup and /confirm), which finishes the login.
    mfa_enrollment_required: bool = False


class ApiKeyCreate(_Body):
    name: Annotated[str, msgspec.Meta(max_length=MAX_NAME_LENGTH)] | None = None
    role: Role = Role.SERVICE
    # A user with MFA on proves a fresh second factor: exactly one of these (issue 4).
    code: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    backup_code: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    email_code: Annotated[str, msgspec.Meta(max_length=32)] | None = None


class ApiKeyView(Wire):
    id: uuid.UUID
    prefix: str
    name: str | None
    role: Role
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None


class CreatedApiKeyView(ApiKeyView):
    key: str  # the whole key, shown this once: only its hash is stored


class ApiKeyList(Wire):
    items: list[ApiKeyView]


class AuditEventView(Wire):
    id: uuid.UUID
    kind: str
    created_at: dt.datetime
    user_id: uuid.UUID | None
    actor_id: uuid.UUID | None
    detail: dict[str, Any] | None


class AuditEventList(Wire):
    items: list[AuditEventView]
    next_cursor: str | None


def token_view(pair: TokenPair) -> TokenView:
    return TokenView(
        access_token=pair.access_token,
        refresh_token=pair.refresh_token,
        token_type=pair.token_type,
        expires_in=pair.expires_in,
    )


def challenge_view(challenge: MfaChallenge) -> MfaChallengeView:
    return MfaChallengeView(
        mfa_required=not challenge.enrollment_required,
        mfa_token=challenge.mfa_token,
        mfa_enrollment_required=challenge.enrollment_required,
    )


def api_key_view(key: ApiKey) -> ApiKeyView:
    return ApiKeyView(
        id=key.id,
        prefix=key.prefix,
        name=key.name,
        role=key.role,
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def created_key_view(issued: IssuedKey) -> CreatedApiKeyView:
    view = api_key_view(issued.key)
    return CreatedApiKeyView(**msgspec.structs.asdict(view), key=issued.secret)


def audit_list(page: AuditPage) -> AuditEventList:
    return AuditEventList(items=[audit_view(e) for e in page.events], next_cursor=page.next_cursor)


def audit_view(event: AuditEvent) -> AuditEventView:
    return AuditEventView(
        id=event.id,
        kind=event.kind,
        created_at=event.created_at,
        user_id=event.user_id,
        actor_id=event.actor_id,
        detail=event.detail,
    )
