"""Authentication: `Authorization: Bearer <access token or API key>` -> domain.tenancy.Principal.

An access token (a JWT from /v1/auth/login) is checked in-process: signature, algorithm,
issuer, audience, key id, type and expiry (domain/tokens.py); it costs no query, and stays good
until it expires (15 minutes by default) even if its user is deleted meanwhile.

Every authenticated request would cost a database query for the key; a hot polling client
makes many per second. So an accepted key is remembered in-process for a few seconds, keyed
by its hash (the secret itself is never kept). The price: a revoked key keeps working on an
API process for at most `ttl_seconds` after the revocation. Rejections are not cached, so a
newly created key works at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from api.errors import HttpProblem
from api.ttl_cache import TtlCache
from domain.ports import Clock, UnitOfWorkFactory
from domain.services.tenants import authenticate_api_key
from domain.tenancy import Principal, hash_api_key, looks_like_api_key
from domain.tokens import TokenKeys, verify_access_token

if TYPE_CHECKING:
    from litestar.connection import ASGIConnection
    from litestar.types import ASGIApp

MAX_CACHED_KEYS = 10_000
MAX_JWT_LENGTH = 4096  # ours are ~400 characters; a huge "token" costs no decoding


class ApiKeyAuthenticator:
    """authenticate_api_key behind a small TTL cache; safe to call from several threads."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        *,
        ttl_seconds: float,
        max_entries: int = MAX_CACHED_KEYS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._cache: TtlCache[Principal] = TtlCache(
            ttl_seconds=ttl_seconds, max_entries=max_entries, monotonic=monotonic
        )

    def cached(self, secret: str) -> Principal | None:
        """The principal if the key was accepted less than `ttl_seconds` ago (no I/O)."""
        return self._cache.get(hash_api_key(secret))

    def authenticate(self, secret: str) -> Principal | None:
        """The caller behind `secret`, or None; queries the database on a cache miss."""
        if (principal := self.cached(secret)) is not None:
            return principal
        principal = authenticate_api_key(secret, self._uow_factory, self._clock)
        if principal is not None:  # refusals are never cached
            self._cache.put(hash_api_key(secret), principal)
        return principal


def bearer_token(header: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive)."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


class TokenVerifier:
    """Access tokens (JWT) -> Principal, against the service's clock."""

    def __init__(self, keys: Callable[[], TokenKeys], clock: Clock) -> None:
        # A callable: the keys can change while the app runs (a rotation read from Vault).
        self._keys = keys
        self._clock = clock

    def verify(self, token: str) -> Principal | None:
        return verify_access_token(self._keys(), token, now=self._clock().timestamp())


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and len(token) <= MAX_JWT_LENGTH and token.isascii()


class ApiKeyAuthMiddleware(AbstractAuthenticationMiddleware):
    """Sets `scope["user"]` to the Principal, or answers 401 UNAUTHORIZED."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: ApiKeyAuthenticator,
        tokens: TokenVerifier | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(app, **kwargs)
        self.authenticator = authenticator
        self.tokens = tokens

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        token = bearer_token(connection.headers.get("authorization"))
        if token is None:
            raise HttpProblem(
                401,
                "UNAUTHORIZED",
                "an access token or API key is required: Authorization: Bearer <token>",
            )
        principal = await self._principal(token)
        if principal is None:
            raise HttpProblem(
                401,
                "UNAUTHORIZED",
                "the access token or API key is invalid, expired or revoked",
                headers={"WWW-Authenticate": 'Bearer realm="rota", error="invalid_token"'},
            )
        return AuthenticationResult(user=principal, auth=principal.key_id or principal.user_id)

    async def _principal(self, token: str) -> Principal | None:
        if self.tokens is not None and looks_like_jwt(token):
            return self.tokens.verify(token)  # a few microseconds of HMAC: no thread needed
        if not looks_like_api_key(token):  # garbage costs no hash and no thread
            return None
        if (principal := self.authenticator.cached(token)) is not None:
            return principal
        # The database lookup is synchronous: keep it off the event loop.
        return await anyio.to_thread.run_sync(self.authenticator.authenticate, token)
