"""The request id: one per request, echoed in `X-Request-ID`, carried by every log line.

A client (or a proxy) may send its own id so it can follow a request across systems; it is
kept only when it is well formed, because it ends up in log lines, response headers and the
job's Celery headers, where a newline or a 10 kB value would do harm. Otherwise a fresh uuid4
hex is used. The id becomes the job's correlation id (DESIGN.md section 4).
"""

from __future__ import annotations

import logging
import re
import uuid
from contextvars import ContextVar
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from litestar.types import ASGIApp, Receive, Scope, Send

HEADER = "X-Request-ID"
_HEADER_KEY = HEADER.lower().encode()
_WELL_FORMED = re.compile(r"[A-Za-z0-9._-]{8,128}")
# Where the id is kept in the ASGI scope: `scope["state"]` is shared by the whole request,
# including the app-level error handler and the `before_send` hook that run outside any route.
_STATE_KEY = "request_id"

# The id of the request being served, for log lines; "-" outside a request.
current_request_id: ContextVar[str] = ContextVar("request_id", default="-")


def is_well_formed(value: str) -> bool:
    return _WELL_FORMED.fullmatch(value) is not None


def request_id_of(scope: Scope) -> str:
    """The id of this request: chosen once, on first use, then the same everywhere."""
    state = scope.setdefault("state", {})  # type: ignore[typeddict-item]
    request_id = state.get(_STATE_KEY)
    if request_id is None:
        request_id = _from_headers(scope) or uuid.uuid4().hex
        state[_STATE_KEY] = request_id
    return request_id


def _from_headers(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == _HEADER_KEY:
            text = value.decode("latin-1")
            return text if is_well_formed(text) else None
    return None


class RequestIdMiddleware:
    """Sets `current_request_id` for the duration of a request (threads inherit it: Litestar
    runs sync handlers through anyio, which copies the context)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        token = current_request_id.set(request_id_of(scope))
        # Reset only on success. An error that escapes this middleware (authentication on a
        # dead database) is handled by Litestar's app-level handler *outside* it, and that
        # handler's log line and Sentry event must still carry the id. Nothing leaks: each
        # request runs in its own asyncio task, whose context ends with it.
        await self.app(scope, receive, send)
        current_request_id.reset(token)


class RequestIdFilter(logging.Filter):
    """Gives every record a `request_id` attribute, for the `%(request_id)s` of the format.

    Installed on handlers (not loggers) so records propagated from any logger get it. A record
    that already has one (passed with `extra=`) keeps it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id.get()
        return True
