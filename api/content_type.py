"""A guard for handlers that read a JSON body: anything else answers 415 before the body is
read (guards run before Litestar reads the body)."""

from __future__ import annotations

import re
from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.errors import HttpProblem

_CHARSET = re.compile(r"""charset\s*=\s*"?([^";\s]+)""", re.IGNORECASE)


def is_json(content_type: str) -> bool:
    """application/json or application/<x>+json, in UTF-8 (RFC 8259 section 8.1)."""
    media_type, _, params = content_type.partition(";")
    media_type = media_type.strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        return False
    charset = _CHARSET.search(params)
    return charset is None or charset.group(1).lower() in ("utf-8", "utf8")


def require_json(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    content_type = connection.headers.get("content-type", "")
    if not is_json(content_type):
        raise HttpProblem(
            415,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be JSON in UTF-8: Content-Type: application/json",
        )
