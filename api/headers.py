"""Headers that every response carries, errors and unknown routes included.

This is the one place that sets them: a `before_send` hook sees every response the app sends,
even those produced before routing (404, 405), which route middleware never sees.

Security headers (OWASP ASVS 5.0 section 3.4, OWASP Secure Headers Project): the API answers
JSON only, so its Content-Security-Policy forbids everything; the docs pages under /schema
(HTML that loads Scalar or Swagger UI from jsDelivr) get their own policy, allowing just that
CDN. Nothing a response holds may be cached: it is tenant data behind a key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from api.rate_limit import decision_of
from api.request_id import HEADER, request_id_of

if TYPE_CHECKING:
    from litestar.types import Message, Scope

DOCS_PREFIX = "/schema"
API_CSP = "default-src 'none'; frame-ancestors 'none'"
_CDN = "https://cdn.jsdelivr.net"
# Scalar (/schema) loads its script and stylesheet from the CDN, injects styles, fetches the
# document from /schema/openapi.json and fonts from fonts.scalar.com.
DOCS_CSP = (
    f"default-src 'none'; script-src {_CDN}; style-src {_CDN} 'unsafe-inline'; "
    f"img-src {_CDN} data:; font-src {_CDN} https://fonts.scalar.com; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
# Litestar's Swagger page starts Swagger UI from an inline script that embeds the whole
# document, so its hash changes with every API change; that page alone allows inline scripts.
# No client input is ever part of that page.
SWAGGER_CSP = DOCS_CSP.replace(f"script-src {_CDN};", f"script-src {_CDN} 'unsafe-inline';")
SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": (
        "accelerometer=(), camera=(), geolocation=(), gyroscope=(), magnetometer=(), "
        "microphone=(), payment=(), usb=(), interest-cohort=()"
    ),
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def content_security_policy(path: str, content_type: str) -> str:
    if path.startswith(DOCS_PREFIX) and content_type.startswith("text/html"):
        return SWAGGER_CSP if path.rstrip("/").endswith("/swagger") else DOCS_CSP
    return API_CSP


# As raw ASGI header pairs, encoded once: this hook runs for every response.
_FIXED = [
    *((name.lower().encode(), value.encode()) for name, value in SECURITY_HEADERS.items()),
    (b"cache-control", b"no-store"),
]
_REQUEST_ID = HEADER.lower().encode()
_CSP = b"content-security-policy"
# Headers this hook decides: any value a handler set is replaced. Uvicorn runs with
# --no-server-header; dropping `server` covers any other server that adds one.
_REPLACED = frozenset({name for name, _ in _FIXED} | {_REQUEST_ID, _CSP, b"server"})


async def set_response_headers(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start":
        return
    # One pass over the raw pairs instead of a lookup per header (MutableScopeHeaders
    # scans the list on every assignment).
    headers: list[tuple[bytes, bytes]] = []
    content_type = b""
    limited = False
    for name, value in message.get("headers", ()):
        lowered = name.lower()
        if lowered in _REPLACED:
            continue
        if lowered == b"content-type":
            content_type = value
        elif lowered == b"ratelimit-limit":
            limited = True  # a 429 carries the refusing counter's headers already; keep them
        headers.append((name, value))
    headers += _FIXED
    headers.append((_REQUEST_ID, request_id_of(scope).encode()))
    policy = content_security_policy(scope.get("path", ""), content_type.decode("latin-1"))
    headers.append((_CSP, policy.encode()))
    if not limited and (decision := decision_of(scope)) is not None:
        headers += (
            (name.lower().encode(), value.encode()) for name, value in decision.headers().items()
        )
    message["headers"] = headers
