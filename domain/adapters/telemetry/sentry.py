"""Sentry error reporting, on only when SENTRY_DSN is set.

Every event is tagged with the correlation id (the request id in the API, the job's in a
worker) so an error report leads to the log lines of the same request, and is scrubbed
before it leaves: no request body, cookie or credential header, no API key or e-mail address
anywhere in its text (scrub.py). Sentry's own defaults already hide some of that
(`send_default_pii=False`); the scrubber does not rely on them, because the Litestar
integration attaches the parsed request body whatever that option says.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import sentry_sdk
from sentry_sdk.integrations import Integration
from sentry_sdk.integrations.logging import ignore_logger

from domain.adapters.telemetry.logging import CorrelationId
from domain.adapters.telemetry.scrub import scrub_data
from domain.settings import Settings

CORRELATION_TAG = "correlation_id"
SERVICE_TAG = "service"
# Parts of the request that are the client's data, not a description of the request.
_REQUEST_DATA = ("data", "cookies", "env")


def release() -> str:
    """The release Sentry groups events by: the installed package's version."""
    try:
        return f"rota@{version('rota')}"
    except PackageNotFoundError:  # a checkout run without `pip install -e .`
        return "rota@unknown"


def init_sentry(
    settings: Settings,
    *,
    service: str,
    integrations: Sequence[Integration],
    correlation_id: CorrelationId,
    ignore: Callable[[BaseException], bool] | None = None,
    ignore_loggers: Sequence[str] = (),
) -> bool:
    """Start the SDK when settings.sentry_dsn is set; True if it was started.

    `service` tags every event ("api", "worker"); `ignore` says which exceptions are normal
    outcomes rather than faults (the API's 4xx answers), never reported; `ignore_loggers`
    name loggers whose error lines repeat what an integration already reports.
    """
    if not settings.sentry_dsn:
        return False
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.environment,
        release=release(),
        send_default_pii=False,
        # Frames of the API hold request bodies and API keys in their local variables.
        include_local_variables=False,
        max_request_body_size="never",
        # Only the integrations named here: the auto-enabled HTTPX one would add Sentry's
        # trace headers to outgoing webhook requests, telling strangers about our traces.
        auto_enabling_integrations=False,
        integrations=list(integrations),
        before_send=EventScrubber(service, correlation_id, ignore),
    )
    for name in ignore_loggers:
        ignore_logger(name)
    return True


class EventScrubber:
    """Sentry's before_send: drop ignored errors, scrub the rest, tag them."""

    def __init__(
        self,
        service: str,
        correlation_id: CorrelationId,
        ignore: Callable[[BaseException], bool] | None = None,
    ) -> None:
        self.service = service
        self.correlation_id = correlation_id
        self.ignore = ignore

    def __call__(self, event: dict[str, Any], hint: dict[str, Any]) -> dict[str, Any] | None:
        error = (hint.get("exc_info") or (None, None, None))[1]
        if self.ignore is not None and error is not None and self.ignore(error):
            return None
        event = dict(event)
        event.pop("user", None)  # an address or a name is personal data
        # `_meta` holds the SDK's annotations (what it trimmed, and why), not data: it is
        # kept out of the scrubbing, whose "[Filtered]" would break its shape.
        meta = event.pop("_meta", None)
        request = event.get("request")
        if isinstance(request, dict):
            event["request"] = {k: v for k, v in request.items() if k not in _REQUEST_DATA}
        event = scrub_data(event)
        if isinstance(meta, dict):
            event["_meta"] = _without_request_data(meta)
        tags = event.get("tags")
        tags = dict(tags) if isinstance(tags, dict | list) else {}  # a dict, or [name, value] pairs
        tags[SERVICE_TAG] = self.service
        correlation_id = self.correlation_id()
        if correlation_id and correlation_id != "-":
            tags[CORRELATION_TAG] = correlation_id
        event["tags"] = tags
        return event


def _without_request_data(meta: dict[str, Any]) -> dict[str, Any]:
    """The annotations, less those of the request parts removed (they outline the body)."""
    request = meta.get("request")
    if not isinstance(request, dict):
        return meta
    return {**meta, "request": {k: v for k, v in request.items() if k not in _REQUEST_DATA}}
