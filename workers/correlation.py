"""The correlation id of the task being run, on every log record of the worker process.

The producer puts the job's correlation id (the API request's X-Request-ID) in the message
headers; `task_prerun` binds it in the pool process and `task_postrun` unbinds it, so Celery's
own "succeeded"/"failed"/"retry" lines (logged before postrun) carry it too. A log record
factory copies it onto every record, so `%(correlation_id)s` works in any handler's format
(celery_config.LOG_FORMAT). The main process's "received" line has none ("-").
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from typing import Any

from domain.adapters.celery_queue import CORRELATION_HEADER

NONE = "-"

_current: ContextVar[str] = ContextVar("correlation_id", default=NONE)
_installed = False


def current() -> str:
    """The correlation id of the task running in this process; NONE between tasks."""
    return _current.get()


def bind(correlation_id: object) -> None:
    """Make `correlation_id` current; a missing or odd value becomes NONE."""
    text = correlation_id if isinstance(correlation_id, str) and correlation_id else NONE
    # The header comes from the broker: keep a log line a line, and short.
    _current.set(text[:128].replace("\n", " ").replace("\r", " "))


def on_task_prerun(task: Any = None, **_: Any) -> None:
    """task_prerun: bind the correlation id of the message about to run."""
    request = getattr(task, "request", None)
    bind(request.get(CORRELATION_HEADER) if request is not None else None)


def on_task_postrun(**_: Any) -> None:
    """task_postrun: the next task must not inherit this one's id."""
    _current.set(NONE)


def install_log_record_factory() -> None:
    """Add `correlation_id` to every LogRecord created in this process (idempotent)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record.correlation_id = _current.get()
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
