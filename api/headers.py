"""Headers that every response carries, errors and unknown routes included.

This is the one place that sets them: a `before_send` hook sees every response the app sends,
even those produced before routing (404, 405), which route middleware never sees. Security
headers belong here too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from litestar.datastructures import MutableScopeHeaders

from api.request_id import HEADER, request_id_of

if TYPE_CHECKING:
    from litestar.types import Message, Scope


async def set_response_headers(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start":
        return
    headers = MutableScopeHeaders.from_message(message)
    headers[HEADER] = request_id_of(scope)
