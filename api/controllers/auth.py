"""`/v1/auth`: log in with email and password, refresh, log out (issue 4, "Identity").

These routes carry no bearer token (they make one), so they are excluded from authentication;
the rate limiter counts them per client IP and, once the email is known, per account. Token
answers are never cached by anyone on the way (RFC 6749 section 5.1: `Cache-Control: no-store`).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, post
from litestar.openapi import ResponseSpec
from litestar.params import JSONBody

from api.client_ip import client_ip, networks
from api.content_type import require_json
from api.deps import Deps
from api.identity_schemas import (
    AUTH_PATH,
    LoginRequest,
    MfaChallengeView,
    RefreshRequest,
    TokenView,
    challenge_view,
    token_view,
)
from api.openapi import BODY_INVALID, problem_responses
from domain.services import identity as service

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_COMMON = {
    400: "INVALID_REQUEST: a malformed body.",
    **BODY_INVALID,
    415: "UNSUPPORTED_MEDIA_TYPE: the body is not `application/json`.",
    429: "RATE_LIMITED: too many attempts from this address or for this account.",
    500: "INTERNAL_ERROR: an unexpected failure; it is logged under the correlation_id.",
    503: "SERVICE_UNAVAILABLE: a backend (database, rate-limit store) is unreachable.",
}


class AuthController(Controller):
    path = AUTH_PATH
    tags = ["auth"]
    opt = {"exclude_from_auth": True}  # these routes are how a caller gets a token
    security = []

    @post(
        "/login",
        operation_id="login",
        summary="Log in with email and password",
        description=(
            "Answers tokens, or `{mfa_required: true, mfa_token}` when the user has MFA on: "
            "then POST the token with a code to `/v1/auth/mfa/verify`. An unknown email and a "
            "wrong password answer the same 401."
        ),
        status_code=200,
        guards=[require_json],
        sync_to_thread=True,
        responses={
            200: ResponseSpec(
                data_container=TokenView | MfaChallengeView,  # type: ignore[arg-type]
                description="Tokens, or an MFA challenge.",
                generate_examples=False,
            ),
            **problem_responses(
                {**_COMMON, 401: "INVALID_CREDENTIALS: the email or password is wrong."}
            ),
        },
    )
    def login(
        self, data: JSONBody[LoginRequest], deps: Deps, request: Request[Any, Any, Any]
    ) -> Response[TokenView | MfaChallengeView]:
        deps.rate_limiter.hit_account(data.email, request.scope)
        result = service.login(
            data.email,
            data.password,
            deps.uow_factory,
            deps.clock,
            deps.settings,
            client_ip=client_ip(request.scope, networks(deps.settings.trusted_proxies)),
        )
        view = challenge_view(result) if isinstance(result, service.MfaChallenge) else None
        return Response(view or token_view(result), headers=NO_STORE)  # type: ignore[arg-type]

    @post(
        "/refresh",
        operation_id="refreshTokens",
        summary="Exchange a refresh token for new tokens",
        description=(
            "The refresh token is spent: the answer carries a new one. Presenting a spent "
            "token again revokes every token of its login (reuse detection)."
        ),
        status_code=200,
        guards=[require_json],
        sync_to_thread=True,
        responses=problem_responses(
            {**_COMMON, 401: "INVALID_REFRESH_TOKEN: unknown, spent, expired or revoked."}
        ),
    )
    def refresh(self, data: JSONBody[RefreshRequest], deps: Deps) -> Response[TokenView]:
        pair = service.refresh(data.refresh_token, deps.uow_factory, deps.clock, deps.settings)
        return Response(token_view(pair), headers=NO_STORE)

    @post(
        "/logout",
        operation_id="logout",
        summary="Log out: revoke the refresh token and every token rotated from its login",
        description="Answers 204 whether or not the token was known (nothing to reveal).",
        status_code=204,
        guards=[require_json],
        sync_to_thread=True,
        responses=problem_responses(_COMMON),
    )
    def logout(self, data: JSONBody[RefreshRequest], deps: Deps) -> None:
        service.logout(data.refresh_token, deps.uow_factory, deps.clock)
