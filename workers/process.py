"""The container of this worker process: built after the fork, closed at its shutdown.

Prefork pool processes are forked from the main worker process; an engine or Redis pool built
before the fork would share its sockets with every child. So each pool process builds its own
on `worker_process_init` and closes it on `worker_process_shutdown` (connected in workers.app).
`container()` also builds one on first use, for pools without those signals (solo, threads).

Telemetry is set up once in the main process, before the pool forks, and inherited:
structlog logging on `setup_logging`, Sentry on `celeryd_init` (both connected in workers.app).
"""

from __future__ import annotations

import logging
from typing import Any

from domain.adapters.container import Container, build_container
from domain.adapters.secrets_wiring import (
    WORKER,
    check_database_url,
    refuse_to_start,
    with_secrets,
)
from domain.adapters.telemetry import configure_logging, init_sentry
from domain.secrets import SecretsUnavailable
from domain.settings import Settings, get_settings
from workers import correlation

log = logging.getLogger(__name__)

_container: Container | None = None


def worker_settings() -> Settings:
    """The settings with the workers' secrets from the configured backend (Vault or the
    environment); SecretsUnavailable when it cannot give them."""
    settings = get_settings()
    check_database_url(settings)
    return with_secrets(settings, WORKER)


def container() -> Container:
    global _container
    if _container is None:
        _container = build_container(worker_settings())
    return _container


def open_container(**_: Any) -> None:
    """worker_process_init: a fresh container; one inherited from the parent is dropped, not
    closed, since closing would shut sockets the parent still uses."""
    global _container
    _container = None
    try:
        # The solver child of this process's first job starts now, and is ready (ortools
        # imported) when the job comes (domain/solver/warm.py).
        container().solve.prestart()
    except SecretsUnavailable as error:
        # The main process got its secrets at start (init_error_reporting); Vault went away
        # since. The first task of this process tries again (and fails, and is retried).
        log.error("worker process without its secrets: %s", error)


def close_container(**_: Any) -> None:
    """worker_process_shutdown."""
    global _container
    if _container is None:
        return
    try:
        _container.close()
    except Exception:
        log.warning("could not close the worker's connections cleanly", exc_info=True)
    _container = None


def setup_logging(**_: Any) -> None:
    """setup_logging: Rota's structured logs. Any receiver of this signal also stops Celery
    from installing its own handlers (celery/app/log.py, setup_logging_subsystem)."""
    configure_logging(get_settings(), correlation.current)


def init_error_reporting(**_: Any) -> None:
    """celeryd_init: Sentry (when SENTRY_DSN is set), before the pool's processes are forked,
    as Sentry's Celery guide asks; each process restarts the SDK's sender thread itself."""
    from sentry_sdk.integrations.celery import CeleryIntegration

    try:
        # Also the start-up check: a worker that cannot get its secrets does not start.
        settings = worker_settings()
    except SecretsUnavailable as error:
        raise refuse_to_start(error) from None
    init_sentry(
        settings,
        service="worker",
        integrations=[CeleryIntegration()],
        correlation_id=correlation.current,
    )
