"""Structured logs: every line of a process goes through one structlog processor chain.

JSON lines in production (ROTA_LOG_FORMAT=json), plain console lines for people (`rota dev
up` sets console for its children). The standard library's loggers (Litestar, uvicorn,
Celery, SQLAlchemy and Rota's own modules, which all use `logging.getLogger`) are rendered by
structlog's ProcessorFormatter with the same processors as structlog's own loggers, so every
line has the same keys: timestamp, level, logger, event, correlation_id, process (and
exception when there is one).

The correlation id is read when a line is logged, from a getter the process passes in (the
request id in the API, the job's correlation id in a worker): the domain layer may not import
either of them (import-linter).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, MutableMapping
from multiprocessing import current_process
from typing import Any, TextIO

import structlog
from structlog.typing import Processor

from domain.adapters.telemetry.scrub import scrub_secrets
from domain.settings import Settings

CorrelationId = Callable[[], str | None]

# Loggers that libraries give handlers of their own (uvicorn's dictConfig, Litestar's and
# Celery's defaults): stripped of them and propagating, their lines reach the one root handler.
LIBRARY_LOGGERS = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "uvicorn.asgi",
    "litestar",
    "celery",
    "celery.task",
    "celery.redirected",
)
# What the request-id and worker contextvars hold outside a request or task.
_NO_ID = frozenset({"", "-"})


def configure_logging(
    settings: Settings, correlation_id: CorrelationId, *, stream: TextIO | None = None
) -> logging.Handler:
    """Route every logger of this process to one handler on `stream` (default stderr),
    rendered as settings.log_format at settings.log_level; returns the handler. Idempotent:
    a second call replaces the first one's handler."""
    stream = stream if stream is not None else sys.stderr
    shared = shared_processors(correlation_id)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=final_processors(settings.log_format, stream),
        )
    )
    handler.setLevel(settings.log_level)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    logging.captureWarnings(True)  # a warning is a log line too, not a stray line of text
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        for old in logger.handlers[:]:
            logger.removeHandler(old)
        logger.propagate = True
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return handler


def shared_processors(correlation_id: CorrelationId) -> list[Processor]:
    """What every line gets, from structlog or from the standard library."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        CorrelationIdAdder(correlation_id),
        _add_process_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def final_processors(log_format: str, stream: TextIO) -> list[Processor]:
    renderer: Processor
    if log_format == "console":
        renderer = structlog.dev.ConsoleRenderer(
            colors=_is_terminal(stream), exception_formatter=structlog.dev.plain_traceback
        )
    else:
        renderer = structlog.processors.JSONRenderer()
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        # Rendered to text here, never by a "rich" formatter: those print a frame's local
        # variables, and a frame of the authentication middleware holds the API key.
        structlog.processors.format_exc_info,
        _redact,
        renderer,
    ]


class CorrelationIdAdder:
    """Sets `correlation_id`: a value bound on the line or its record (`extra=`, the worker's
    record factory) wins over the process's getter; null when there is none."""

    def __init__(self, correlation_id: CorrelationId) -> None:
        self.correlation_id = correlation_id

    def __call__(
        self, _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        record = event_dict.get("_record")
        candidates = (
            event_dict.get("correlation_id"),
            getattr(record, "correlation_id", None),
            getattr(record, "request_id", None),
        )
        value = next((c for c in candidates if isinstance(c, str) and c not in _NO_ID), None)
        if value is None:
            value = self.correlation_id()
        event_dict["correlation_id"] = None if value in _NO_ID else value
        return event_dict


def _add_process_name(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # Celery's pool processes (ForkPoolWorker-N) apart from its main process.
    record = event_dict.get("_record")
    name = record.processName if record is not None else current_process().name
    event_dict.setdefault("process", name)
    return event_dict


def _redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    # uvicorn's access line quotes the query string; an exception's text may quote a URL
    # with its password or a statement's parameters.
    for key, value in event_dict.items():
        if isinstance(value, str):
            event_dict[key] = scrub_secrets(value)
    return event_dict


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())
