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
from domain.adapters.telemetry import configure_logging, init_sentry
from domain.settings import get_settings
from workers import correlation

log = logging.getLogger(__name__)

_container: Container | None = None


def container() -> Container:
    global _container
    if _container is None:
        _container = build_container(get_settings())
    return _container


def open_container(**_: Any) -> None:
    """worker_process_init: a fresh container; one inherited from the parent is dropped, not
    closed, since closing would shut sockets the parent still uses."""
    global _container
    _container = None
    container()


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

    init_sentry(
        get_settings(),
        service="worker",
        integrations=[CeleryIntegration()],
        correlation_id=correlation.current,
    )
