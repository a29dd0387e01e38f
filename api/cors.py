"""CORS: browsers on the configured origins may call the API; no other origin may.

The allow-list is explicit (settings.cors_origins; the settings parser refuses `*`), and
credentials are never allowed: the API authenticates by the `Authorization` header, which a
script sets itself, so cookies never need to cross origins. No origins configured: no CORS at
all, and browsers enforce the same-origin policy.
"""

from __future__ import annotations

from litestar.config.cors import CORSConfig

from domain.settings import Settings

ALLOWED_HEADERS = ["Authorization", "Content-Type", "Idempotency-Key", "X-Request-ID"]
# What a script may read of a response (CORS hides all but a few by default).
EXPOSED_HEADERS = [
    "X-Request-ID",
    "Location",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
]
PREFLIGHT_MAX_AGE_SECONDS = 600


def cors_config(settings: Settings) -> CORSConfig | None:
    if not settings.cors_origins:
        return None
    return CORSConfig(
        allow_origins=list(settings.cors_origins),
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=ALLOWED_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        allow_credentials=False,
        max_age=PREFLIGHT_MAX_AGE_SECONDS,
    )
