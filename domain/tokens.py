"""Access tokens and MFA-step tokens: JWT, HS256 only (the only module that imports jwt).

Verification pins the algorithm (so `none`, RS/HS confusion and any other `alg` are refused),
requires exp/iat/iss/aud/sub, checks the issuer, the audience and the key id, and the token
type. An MFA token has its own audience and type, so it is never an access token, and an
access token is never an MFA token.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import jwt

from domain.settings import Settings, SettingsError
from domain.tenancy import Principal, Role

log = logging.getLogger(__name__)

ALGORITHM = "HS256"
ACCESS = "access"
MFA = "mfa"
MFA_TOKEN_SECONDS = 300
MIN_KEY_CHARS = 32
_REQUIRED = ["exp", "iat", "iss", "aud", "sub", "typ", "jti"]


@dataclass(frozen=True)
class TokenKeys:
    secret: str  # the signing key
    key_id: str  # its id, the `kid` of every token this process signs
    issuer: str
    audience: str
    access_seconds: int
    # kid -> key of every key that still verifies (the signing key included): a new key can
    # sign while tokens of the previous one stay valid until it is retired (removed).
    verifying: Mapping[str, str] = field(default_factory=dict)

    def verifying_key(self, key_id: object) -> str | None:
        if key_id == self.key_id:
            return self.secret
        return self.verifying.get(key_id) if isinstance(key_id, str) else None

    @property
    def mfa_audience(self) -> str:
        return self.audience + ":mfa"


@cache
def _ephemeral_secret() -> str:
    # One per process: tokens it signs die with it, which is what a developer expects.
    log.warning(
        "ROTA_JWT_SECRET is not set: using an ephemeral key (development only); tokens stop "
        "working when this process ends"
    )
    return secrets.token_urlsafe(48)


def token_keys(settings: Settings) -> TokenKeys:
    """The signing key and claims of this process; SettingsError when no key is configured
    outside development (a fixed key must be shared by every API process).

    `settings.jwt_secret` is one key (its id is `settings.jwt_key_id`) or a key ring
    `k2:SECRET,k1:SECRET`: the first key signs, every listed key verifies.
    """
    spec = settings.jwt_secret
    if not spec:
        if settings.environment != "development":
            raise SettingsError(
                f"ROTA_JWT_SECRET must be set (32+ characters) in environment "
                f"{settings.environment!r}"
            )
        spec = _ephemeral_secret()
    key_id, keys = parse_key_ring(spec, default_id=settings.jwt_key_id)
    return TokenKeys(
        secret=keys[key_id],
        key_id=key_id,
        verifying=keys,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        access_seconds=settings.access_token_seconds,
    )


def parse_key_ring(spec: str, *, default_id: str) -> tuple[str, dict[str, str]]:
    """`"k2:SECRET,k1:SECRET"` (or one bare SECRET, id `default_id`) -> (signing id, keys);
    SettingsError on a bad ring. Every key needs 32+ characters (HS256 wants 256 bits)."""
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if len(parts) == 1 and ":" not in parts[0]:
        parts = [f"{default_id}:{parts[0]}"]
    keys: dict[str, str] = {}
    for part in parts:
        key_id, _, secret = part.partition(":")
        if not key_id.isalnum() or key_id in keys:
            raise SettingsError(f"JWT key id {key_id!r} must be letters and digits, used once")
        if len(secret) < MIN_KEY_CHARS:
            raise SettingsError(f"JWT key {key_id!r} must have {MIN_KEY_CHARS}+ characters")
        keys[key_id] = secret
    if not keys:
        raise SettingsError("the JWT key ring is empty")
    return next(iter(keys)), keys


def _encode(keys: TokenKeys, claims: dict[str, Any]) -> str:
    return jwt.encode(claims, keys.secret, algorithm=ALGORITHM, headers={"kid": keys.key_id})


def issue_access_token(
    keys: TokenKeys, *, user_id: uuid.UUID, tenant_id: uuid.UUID, role: Role, now: dt.datetime
) -> str:
    return _encode(
        keys,
        {
            "iss": keys.issuer,
            "aud": keys.audience,
            "sub": str(user_id),
            "tenant": str(tenant_id),
            "role": role.value,
            "typ": ACCESS,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + keys.access_seconds,
            "jti": uuid.uuid4().hex,
        },
    )


def issue_mfa_token(
    keys: TokenKeys, *, user_id: uuid.UUID, now: dt.datetime, login_marker: int = 0
) -> str:
    """Proof that the password was right, good only for the second step, for 5 minutes, and
    only until a login of this user completes (`login_marker`: User.login_marker now)."""
    return _encode(
        keys,
        {
            "iss": keys.issuer,
            "aud": keys.mfa_audience,
            "sub": str(user_id),
            "typ": MFA,
            "iat": int(now.timestamp()),
            "exp": int(now.timestamp()) + MFA_TOKEN_SECONDS,
            "jti": uuid.uuid4().hex,
            "llm": login_marker,
        },
    )


def _decode(keys: TokenKeys, token: str, audience: str, typ: str, now: float | None) -> dict:
    """The claims, or None for any token that is not ours, valid and of this type."""
    try:
        secret = keys.verifying_key(jwt.get_unverified_header(token).get("kid"))
        if secret is None:
            return {}
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=keys.issuer,
            # Time is checked below against the service's clock (injected, as everywhere else).
            options={"require": _REQUIRED, "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return {}
    if claims.get("typ") != typ or not isinstance(claims.get("exp"), int):
        return {}
    if claims["exp"] <= (time.time() if now is None else now):
        return {}
    return claims


def verify_access_token(
    keys: TokenKeys, token: str, *, now: float | None = None
) -> Principal | None:
    claims = _decode(keys, token, keys.audience, ACCESS, now)
    try:
        return Principal(
            tenant_id=uuid.UUID(claims["tenant"]),
            role=Role(claims["role"]),
            user_id=uuid.UUID(claims["sub"]),
        )
    except (KeyError, ValueError, TypeError):
        return None


@dataclass(frozen=True)
class MfaTicket:
    user_id: uuid.UUID
    login_marker: int  # the user's login marker when the token was issued


def verify_mfa_ticket(keys: TokenKeys, token: str, *, now: float | None = None) -> MfaTicket | None:
    """Who an MFA token was issued to and under which login marker, or None."""
    claims = _decode(keys, token, keys.mfa_audience, MFA, now)
    try:
        marker = claims.get("llm", 0)
        if not isinstance(marker, int):
            return None
        return MfaTicket(uuid.UUID(claims["sub"]), marker)
    except (KeyError, ValueError, TypeError):
        return None


def verify_mfa_token(keys: TokenKeys, token: str, *, now: float | None = None) -> uuid.UUID | None:
    """The user id an MFA token was issued to, or None."""
    ticket = verify_mfa_ticket(keys, token, now=now)
    return None if ticket is None else ticket.user_id
