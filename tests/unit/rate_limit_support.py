"""An ApiHarness with the rate limiter on a fake store, a settable peer address, and a probe
route under /v1/auth (the real auth routes are not needed to test the limiter)."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.params import JSONBody
from litestar.testing import TestClient

from api.app import create_app
from api.deps import Deps
from api.rate_limit import RateLimiter
from domain.settings import Settings
from tests.fakes_rate_limit import FakeRateLimitStore
from tests.unit.api_support import ApiHarness

PROBE = "/v1/auth/probe"
PEER_HEADER = b"x-test-peer"  # only this test wrapper reads it


@post(PROBE, exclude_from_auth=True, sync_to_thread=False, status_code=200)
def auth_probe(request: Request[Any, Any, Any], deps: Deps, data: JSONBody[dict[str, str]]) -> dict:
    """What a login handler does once it has the e-mail: charge the account too."""
    deps.rate_limiter.hit_account(data["email"], request.scope)
    return {"ok": True}


class LimitedHarness(ApiHarness):
    def __init__(self, settings: Settings | None = None) -> None:
        self.limits = FakeRateLimitStore()
        settings = settings or Settings()
        super().__init__(settings=settings, rate_limiter=RateLimiter(self.limits, settings))
        self.client = self.make_client()

    def make_client(self) -> TestClient:
        app = create_app(self.deps)
        app.register(auth_probe)
        inner = app.asgi_handler

        async def with_peer(scope: Any, receive: Any, send: Any) -> None:
            # The test client always says its peer is "testclient"; let a test pick one.
            for name, value in scope.get("headers", ()):
                if name == PEER_HEADER:
                    scope["client"] = (value.decode(), 40000)
            await inner(scope, receive, send)

        app.asgi_handler = with_peer
        return TestClient(app)

    def login(self, email: str = "a@example.com", *, peer: str = "198.51.100.1", **headers: str):
        return self.client.post(
            PROBE, json={"email": email}, headers={"X-Test-Peer": peer, **headers}
        )
