"""The ceiling of `make bench-api`: a bare Litestar hello-world served exactly like the API."""

from __future__ import annotations

from litestar import Litestar, get


@get("/hello", sync_to_thread=False)
def hello() -> dict[str, bool]:
    return {"ok": True}


def create_app() -> Litestar:
    return Litestar(route_handlers=[hello], openapi_config=None)
