"""Which counters a request is charged to, and what the API answers when one is full.

Policies (settings, DESIGN.md section 4; each "N per window"):
* `/v1/auth/*`: per client IP (`rate_limit_auth`), checked here before the handler runs, and
  per account: the login handler calls `deps.rate_limiter.hit_account(email)` once it has
  read the e-mail from the body. Both fail closed: without Redis, auth answers 503.
* every other authenticated route: per principal (`rate_limit_api`), and `POST /v1/jobs`
  also per tenant (`rate_limit_submit`), charged together in one round trip. Without Redis
  they are served unlimited, with a warning in the log.
* callers from `rate_limit_allow_networks` are never limited. Routes without a caller
  (health, docs) are not limited: probes must never be refused.

API keys of role `service` are deliberately *not* exempt: every API key is created with that
role, so exempting them would leave only browser sessions limited.

The decision is stored in the request's state; api/headers.py turns it into the
`RateLimit-*` headers of whatever response is sent, errors included.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from api.client_ip import client_ip, networks, parse_address, within
from api.errors import HttpProblem
from domain.rate_limits import Hit, RateLimitStore
from domain.settings import Settings

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger(__name__)

AUTH_PREFIX = "/v1/auth"
JOBS_PATH = "/v1/jobs"
STATE_KEY = "rate_limit"
# Seconds a client is asked to wait when the limiter itself is down.
UNAVAILABLE_RETRY_SECONDS = 5
# At most one "limiter down" warning per process this often, not one per request.
WARNING_INTERVAL_SECONDS = 10.0


@dataclass(frozen=True)
class Decision:
    """The binding counter of a request: what the `RateLimit-*` headers report."""

    limit: int
    window_seconds: int
    hit: Hit

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(0, self.hit.remaining)),
            "RateLimit-Reset": str(self.hit.reset_seconds),
        }


class RateLimiter:
    """The API's limits on a store; with no store, a limiter that admits everything."""

    def __init__(
        self,
        store: RateLimitStore | None,
        settings: Settings,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self._auth = settings.rate_limit_auth
        self._api = settings.rate_limit_api
        self._submit = settings.rate_limit_submit
        self._allow = networks(settings.rate_limit_allow_networks)
        self._trusted = networks(settings.trusted_proxies)
        self._monotonic = monotonic
        self._warned_at: float | None = None

    @classmethod
    def disabled(cls) -> RateLimiter:
        return cls(None, Settings())

    @property
    def enabled(self) -> bool:
        return self.store is not None

    async def check_request(self, scope: Scope) -> Decision | None:
        """Charge this request; raise 429 (or 503 on auth routes without Redis)."""
        if self.store is None or (charge := self._request_checks(scope)) is None:
            return None
        checks, fail_closed = charge
        try:
            hits = await self.store.hit_async(checks)
        except ConnectionError as error:
            return self._store_down(error, fail_closed=fail_closed)
        return self._decide(checks, hits)

    def _request_checks(self, scope: Scope) -> tuple[list[tuple[str, int, int]], bool] | None:
        """The counters this request is charged to, and whether it is refused without them."""
        ip = client_ip(scope, self._trusted)
        if within(parse_address(ip), self._allow):
            return None
        path = scope["path"]
        if path == AUTH_PREFIX or path.startswith(AUTH_PREFIX + "/"):
            return [(f"auth:ip:{ip}", *self._auth)], True
        user = scope.get("user")
        tenant = getattr(user, "tenant_id", None)
        if tenant is None:
            return None
        checks = [(f"api:{principal_key(user)}", *self._api)]
        if scope.get("method") == "POST" and path.rstrip("/") == JOBS_PATH:
            checks.append((f"submit:tenant:{tenant}", *self._submit))
        return checks, False

    def hit_account(self, email: str, scope: Scope | None = None) -> Decision | None:
        """Charge one auth attempt to this account (across every IP); raise 429 when the
        account has had `rate_limit_auth` attempts in the window, 503 without Redis. Called by
        the auth handlers once they know the e-mail; the account is keyed by a hash of its
        case-folded address, so Redis never holds e-mail addresses. With `scope`, the
        response's `RateLimit-*` headers report this counter when it is the tighter one."""
        if self.store is None:
            return None
        if scope is not None:
            ip = client_ip(scope, self._trusted)
            if within(parse_address(ip), self._allow):
                return None
        digest = hashlib.sha256(email.strip().casefold().encode()).hexdigest()[:32]
        decision = self._charge([(f"auth:account:{digest}", *self._auth)], fail_closed=True)
        if scope is not None and decision is not None:
            state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
            earlier = state.get(STATE_KEY)
            if earlier is None or decision.hit.remaining < earlier.hit.remaining:
                state[STATE_KEY] = decision
        return decision

    def _charge(self, checks: list[tuple[str, int, int]], *, fail_closed: bool) -> Decision | None:
        assert self.store is not None
        try:
            hits = self.store.hit(checks)
        except ConnectionError as error:
            return self._store_down(error, fail_closed=fail_closed)
        return self._decide(checks, hits)

    def _store_down(self, error: ConnectionError, *, fail_closed: bool) -> None:
        if fail_closed:
            raise HttpProblem(
                503,
                "RATE_LIMITER_UNAVAILABLE",
                "the rate limiter cannot be reached; try again shortly",
                headers={"Retry-After": str(UNAVAILABLE_RETRY_SECONDS)},
            ) from error
        self._warn(error)
        return None

    def _decide(self, checks: list[tuple[str, int, int]], hits: list[Hit]) -> Decision:
        # The binding counter: a refusing one, else the one with the least left.
        index = min(range(len(hits)), key=lambda i: (hits[i].admitted, hits[i].remaining))
        _, count, window = checks[index]
        decision = Decision(limit=count, window_seconds=window, hit=hits[index])
        if not decision.hit.admitted:
            raise HttpProblem(
                429,
                "RATE_LIMITED",
                f"too many requests: at most {count} per {window} seconds",
                headers={
                    "Retry-After": str(max(1, decision.hit.retry_after_seconds)),
                    **decision.headers(),
                },
            )
        return decision

    async def aclose(self) -> None:
        """Close the store's asyncio connections (an on_shutdown hook of the app)."""
        if self.store is not None:
            await self.store.aclose()

    def _warn(self, error: Exception) -> None:
        now = self._monotonic()
        if self._warned_at is None or now - self._warned_at >= WARNING_INTERVAL_SECONDS:
            self._warned_at = now
            log.warning("rate limiter unavailable, serving without limits: %s", error)


def principal_key(user: Any) -> str:
    """A caller's own counter: its user, else its API key, else its tenant."""
    if (user_id := getattr(user, "user_id", None)) is not None:
        return f"user:{user_id}"
    if (key_id := getattr(user, "key_id", None)) is not None:
        return f"key:{key_id}"
    return f"tenant:{user.tenant_id}"


def decision_of(scope: Scope) -> Decision | None:
    state = scope.get("state") or {}
    return state.get(STATE_KEY)


class RateLimitMiddleware:
    """Charges each request before its handler runs; placed after authentication, so it
    knows the principal. The charge is awaited on the event loop (an asyncio Redis client):
    a worker thread per request cost more than the round trip, and halved the rate of the
    cheapest routes (`make bench-api`)."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.limiter.enabled:
            decision = await self.limiter.check_request(scope)
            if decision is not None:
                scope.setdefault("state", {})[STATE_KEY] = decision  # type: ignore[typeddict-item]
        await self.app(scope, receive, send)
