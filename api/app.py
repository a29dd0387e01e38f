"""The Litestar application: `uvicorn api.app:create_app --factory`.

`create_app()` wires the real adapters (domain.adapters.container); tests pass `ApiDeps` built
from in-memory fakes instead. Everything HTTP-specific is assembled here: middleware order,
error handling, headers, body limit, OpenAPI and logging.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from typing import Any

from litestar import Litestar, Router
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware

from api.auth import ApiKeyAuthenticator, ApiKeyAuthMiddleware, TokenVerifier
from api.controllers.api_keys import ApiKeyController
from api.controllers.audit import AuditController
from api.controllers.auth import AuthController
from api.controllers.health import HealthController
from api.controllers.jobs import JobController
from api.controllers.metrics import MetricsController
from api.controllers.mfa import MfaController
from api.controllers.webhooks import WebhookController
from api.cors import cors_config
from api.deps import ApiDeps, dependencies
from api.errors import ProblemMapper, is_expected
from api.headers import set_response_headers
from api.openapi import openapi_config
from api.rate_limit import RateLimiter, RateLimitMiddleware
from api.request_id import RequestIdFilter, RequestIdMiddleware, current_request_id
from domain.settings import Settings, SettingsError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def create_app(deps: ApiDeps | None = None) -> Litestar:
    """The API; with no `deps`, connected to the backends named by the environment."""
    on_shutdown: Sequence[Callable[[], Any]] = ()
    on_startup: Sequence[Callable[[], Any]] = ()
    log_config: LoggingConfig | None = logging_config()
    if deps is None:
        # Imported here so that tests (which pass fakes) never load the real adapters.
        from domain.adapters.container import build_container
        from domain.adapters.db.job_changes import job_change_listener
        from domain.adapters.secrets_wiring import API, watch_secrets
        from domain.services.outbox_marks import BatchedSentMarks
        from domain.settings import get_settings

        settings = api_settings(get_settings())
        refuse_to_start_without_keys(settings)
        start_telemetry(settings)  # before Litestar(): Sentry patches its __init__
        log_config = None  # Litestar's dictConfig would replace the structlog handler
        container = build_container(settings)
        deps = ApiDeps(
            settings=container.settings,
            uow_factory=container.uow_factory,
            queue=container.queue,
            clock=container.clock,
            readiness=container.readiness,
            rate_limiter=RateLimiter(container.rate_limits, container.settings),
            sent_marks=(marks := BatchedSentMarks(container.uow_factory, container.clock)),
        )
        views = deps.job_views
        feed = job_change_listener(
            container.engine,
            enabled=container.settings.db_change_feed,
            on_change=views.changed,
            on_up=views.feed_up,
            on_down=views.feed_down,
        )
        # The marks first: their last batch needs the database.
        on_shutdown = (*((feed.close,) if feed else ()), marks.close, container.close)
        # A serving process only: a test suite that froze its heap at each app start would
        # never collect the cyclic garbage of the tests before.
        on_startup = (freeze_startup_heap, *((feed.start,) if feed else ()))
        # With Vault: a key added or retired there reaches this process within the secrets'
        # TTL (ROTA_VAULT_SECRETS_TTL), without a restart.
        watch_secrets(get_settings(), API, deps.refresh_secrets)

    authenticator = ApiKeyAuthenticator(
        deps.uow_factory, deps.clock, ttl_seconds=deps.auth_cache_seconds
    )
    return Litestar(
        route_handlers=[
            # Problems are the one kind of body allowed to be large.
            Router(
                "/",
                route_handlers=[JobController],
                request_max_body_size=deps.settings.max_problem_bytes,
            ),
            WebhookController,
            HealthController,
            MetricsController,
            AuthController,
            ApiKeyController,
            AuditController,
            MfaController,
        ],
        dependencies=dependencies(deps),
        # Order matters: the request id first, so a rejected key is logged with it too; the
        # rate limit after authentication, so it can count per principal.
        middleware=[
            RequestIdMiddleware,
            DefineMiddleware(
                ApiKeyAuthMiddleware,
                authenticator=authenticator,
                tokens=TokenVerifier(lambda: deps.token_keys, deps.clock),
                exclude="^/schema",
            ),
            DefineMiddleware(RateLimitMiddleware, limiter=deps.rate_limiter),
        ],
        exception_handlers={Exception: ProblemMapper()},
        before_send=[set_response_headers],
        request_max_body_size=deps.settings.max_body_bytes,
        cors_config=cors_config(deps.settings),
        openapi_config=openapi_config(),
        logging_config=log_config,
        # The limiter's asyncio connections first: they must be closed from the loop.
        on_startup=list(on_startup),
        on_shutdown=[deps.rate_limiter.aclose, *on_shutdown],
    )


def freeze_startup_heap() -> None:
    """Move every object alive at start-up out of the garbage collector's sight.

    The modules, routes, SQLAlchemy tables and Celery app make ~150,000 long-lived objects,
    and each full (generation 2) collection walks them all while every request in the
    process waits: 135-225 ms pauses under `make bench-api` load, the whole p99 of POST
    /v1/jobs. Frozen, they are never scanned again (they are never garbage anyway); objects
    made later are collected as before. See the `gc.freeze` documentation.
    """
    gc.freeze()


def api_settings(settings: Settings) -> Settings:
    """The settings with the API's secrets from the configured backend (Vault or the
    environment); a process that cannot get them exits with one line."""
    from domain.adapters.secrets_wiring import (
        API,
        check_database_url,
        refuse_to_start,
        with_secrets,
    )
    from domain.secrets import SecretsUnavailable

    try:
        check_database_url(settings)
        return with_secrets(settings, API)
    except SecretsUnavailable as error:
        raise refuse_to_start(error) from None


def refuse_to_start_without_keys(settings: Settings) -> None:
    """Exit with one line (no traceback from the server's factory call) when the JWT key is
    missing outside development: every login would fail, or worse, each process would sign
    with its own key."""
    from domain.adapters.mfa_wiring import keyring_from_settings, webhook_keyring_from_settings
    from domain.tokens import token_keys

    try:
        token_keys(settings)
        if settings.totp_encryption_key or settings.environment != "development":
            keyring_from_settings(settings)  # the TOTP key of MFA: the same rule
            webhook_keyring_from_settings(settings)  # and the key of webhook secrets
    except SettingsError as error:
        raise SystemExit(f"rota: bad setting: {error}") from None


def start_telemetry(settings: Settings) -> None:
    """structlog for every logger of the process and, when SENTRY_DSN is set, Sentry; both
    read the correlation id from the request id (domain/adapters/telemetry)."""
    from sentry_sdk.integrations.litestar import LitestarIntegration

    from domain.adapters.telemetry import configure_logging, init_sentry

    configure_logging(settings, current_request_id.get)
    init_sentry(
        settings,
        service="api",
        integrations=[LitestarIntegration()],
        correlation_id=current_request_id.get,
        ignore=is_expected,
        # Its error line repeats the exception the Litestar integration has just reported
        # (Sentry's dedupe misses it: Litestar runs that sync hook in another context).
        ignore_loggers=["api.errors"],
    )


def logging_config() -> LoggingConfig:
    """Litestar's default logging, with the request id in every line (api/request_id.py);
    for apps built on test fakes. The real app logs through structlog (start_telemetry)."""
    config = LoggingConfig(
        filters={"request_id": {"()": RequestIdFilter}},
        formatters={"standard": {"format": LOG_FORMAT}},
        log_exceptions="never",  # api/errors.py logs unexpected errors, with the request id
    )
    # Litestar's default handlers differ by Python version (a queue handler that dictConfig
    # cannot build on 3.12+ is replaced there), so the filter is added to whatever they are.
    config.handlers = {
        name: {**handler, "filters": ["request_id"]} for name, handler in config.handlers.items()
    }
    return config
