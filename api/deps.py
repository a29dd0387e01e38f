"""What the controllers need from the outside world, and how Litestar hands it to them.

`ApiDeps` is built once per app: by `create_app` from the real container, or by a test from
the in-memory fakes. Handlers ask for `deps`, `principal` and `request_id` by name (Litestar
dependency injection), so they never touch `app.state` or the scope.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from litestar import Request
from litestar.di import NamedDependency, Provide

from api.job_views import JobViews
from api.rate_limit import RateLimiter
from api.readiness import Readiness
from api.request_id import request_id_of
from api.schemas import JobView
from domain.adapters.mfa_wiring import keyring_from_settings, mailer_from_settings
from domain.errors import Unauthorized
from domain.mail import Mailer
from domain.ports import Clock, JobQueue, UnitOfWorkFactory
from domain.services.mfa import Mfa
from domain.services.outbox import SentMarks
from domain.settings import Settings
from domain.tenancy import Principal
from domain.tokens import TokenKeys, token_keys

# How long an authenticated key is trusted without asking the database again (api/auth.py).
AUTH_CACHE_SECONDS = 5.0
# Longest wait for one readiness check; a probe must answer well inside its own timeout.
READINESS_TIMEOUT_SECONDS = 2.0


@dataclass
class ApiDeps:
    settings: Settings
    uow_factory: UnitOfWorkFactory
    queue: JobQueue
    clock: Clock
    # name -> check; each raises when its backend (database, Redis, broker) is unusable.
    readiness: Mapping[str, Callable[[], None]] = field(default_factory=dict)
    auth_cache_seconds: float = AUTH_CACHE_SECONDS
    readiness_timeout_seconds: float = READINESS_TIMEOUT_SECONDS
    # Off unless given a store (api/rate_limit.py); auth handlers call its hit_account().
    rate_limiter: RateLimiter = field(default_factory=RateLimiter.disabled)
    # Views of jobs read by GET /v1/jobs/{id} (api/job_views.py); live ones are kept only
    # while a change feed calls its feed_up/changed/feed_down (create_app wires PostgreSQL's).
    job_views: JobViews[JobView] = field(default_factory=JobViews)
    # The JWT key of this process; SettingsError here when none is configured outside
    # development, so the app refuses to start rather than refuse every login.
    token_keys: TokenKeys = field(init=False)
    # Mail of the e-mailed MFA codes; None: from settings (SMTP, else the file outbox).
    mailer: Mailer | None = None
    # Marks a submitted job's published message sent in batches; None: one transaction
    # per submit (domain/services/outbox_marks.py).
    sent_marks: SentMarks | None = None
    # The MFA use cases' collaborators; the TOTP keyring follows token_keys' rule.
    mfa: Mfa = field(init=False)

    def __post_init__(self) -> None:
        self.token_keys = token_keys(self.settings)
        self.mfa = Mfa(
            uow_factory=self.uow_factory,
            keyring=keyring_from_settings(self.settings),
            clock=self.clock,
            settings=self.settings,
            mailer=self.mailer or mailer_from_settings(self.settings),
        )

    def refresh_secrets(self, settings: Settings) -> None:
        """New secrets from the backend (a key added or retired in Vault): rebuild what was
        made from them. Each attribute is replaced whole, so a request sees old or new keys,
        never a mix; built before any is replaced, so a bad key changes nothing."""
        keys = token_keys(settings)
        mfa = replace(self.mfa, keyring=keyring_from_settings(settings), settings=settings)
        self.settings, self.token_keys, self.mfa = settings, keys, mfa


# How handlers ask for them (Litestar injects by parameter name).
Deps = NamedDependency[ApiDeps]
Caller = NamedDependency[Principal]
RequestId = NamedDependency[str]


def provide_principal(request: Request[Any, Any, Any], deps: ApiDeps) -> Principal:
    """The caller, set by the authentication middleware.

    `deps` is not used: asking for it makes this a dependency of `deps`, so Litestar resolves
    the two one after the other. Independent dependencies are resolved in an anyio task
    group, whose set-up costs more than both providers together; on the hottest route
    (GET /v1/jobs/{id}, polled) that was a tenth of the request (`make bench-api`)."""
    del deps
    user = request.scope.get("user")
    if not isinstance(user, Principal):
        # Only reachable if a route needing a principal was excluded from authentication.
        raise Unauthorized("authentication required")
    return user


def provide_request_id(request: Request[Any, Any, Any], deps: ApiDeps) -> str:
    del deps  # resolved after `deps`, not beside it: see provide_principal
    return request_id_of(request.scope)


def dependencies(deps: ApiDeps) -> dict[str, Provide]:
    readiness = Readiness(deps.readiness, deps.readiness_timeout_seconds)

    def provide_deps() -> ApiDeps:
        return deps

    def provide_readiness() -> Readiness:
        return readiness

    return {
        "deps": Provide(provide_deps, use_cache=True, sync_to_thread=False),
        "readiness": Provide(provide_readiness, use_cache=True, sync_to_thread=False),
        "principal": Provide(provide_principal, sync_to_thread=False),
        "request_id": Provide(provide_request_id, sync_to_thread=False),
    }
