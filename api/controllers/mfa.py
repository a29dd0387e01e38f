"""`/v1/auth/mfa`: TOTP enrolment, the second factor of a login, the e-mailed code, backup
codes, disabling, and the tenant's enrolment rate (issue 4, "MFA").

Thin handlers on domain/services/mfa.py. Who is calling comes from one of two tokens:
- the login step (`verify`, `email`) and an admin who must enrol before logging in (`setup`,
  `confirm`) carry the short-lived `mfa_token` of their login answer in the body, so these
  routes are excluded from the bearer middleware and check the token here;
- everything else needs a bearer access token of a user (an API key has no second factor).
Disabling MFA and new backup codes need a fresh second factor in the body: a stolen access
token alone cannot weaken the account.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, delete, get, post
from litestar.params import JSONBody

from api.auth import bearer_token, looks_like_jwt
from api.content_type import require_json
from api.controllers.auth import NO_STORE
from api.deps import Caller, Deps
from api.errors import HttpProblem
from api.guards import admin_only
from api.identity_schemas import TokenView, token_view
from api.mfa_schemas import (
    MFA_PATH,
    BackupCodesView,
    ConfirmRequest,
    EmailRequest,
    EnrolledView,
    EnrollmentView,
    EnrollRequest,
    ProofRequest,
    TotpSetupView,
    VerifyRequest,
    enrollment_view,
)
from api.openapi import BODY_INVALID, problem_responses
from domain.services import mfa as service
from domain.services.mfa_email import send_email_code
from domain.tenancy import Principal
from domain.tokens import MfaTicket, verify_access_token, verify_mfa_ticket

_COMMON = {
    400: "INVALID_REQUEST / MFA_FACTOR_REQUIRED: a malformed body, or not exactly one factor.",
    **BODY_INVALID,
    415: "UNSUPPORTED_MEDIA_TYPE: the body is not `application/json`.",
    429: "RATE_LIMITED / ACCOUNT_LOCKED: too many attempts; see Retry-After.",
    500: "INTERNAL_ERROR: an unexpected failure; it is logged under the correlation_id.",
    503: "SERVICE_UNAVAILABLE: a backend is unreachable.",
}
_CODE = {
    401: "MFA_TOKEN_INVALID / MFA_CODE_INVALID: a bad mfa_token, or a wrong, expired "
    "or already used code."
}
_BEARER = {
    401: "UNAUTHORIZED / MFA_CODE_INVALID: no user access token, or a wrong code.",
    403: "FORBIDDEN: an API key has no second factor; log in as a user.",
}
_STATE = {409: "MFA_ALREADY_ENABLED / MFA_NOT_ENABLED / MFA_SETUP_REQUIRED."}
_PUBLIC = {"exclude_from_auth": True}


def _mfa_ticket(deps: Deps, token: str) -> MfaTicket:
    ticket = verify_mfa_ticket(deps.token_keys, token, now=deps.clock().timestamp())
    if ticket is None:
        raise HttpProblem(401, "MFA_TOKEN_INVALID", "the mfa_token is invalid or expired")
    return ticket


def _enrolling_user(
    deps: Deps, request: Request[Any, Any, Any], mfa_token: str | None
) -> tuple[uuid.UUID, int | None]:
    """Who enrols: an admin logging in (mfa_token; its login marker) or a user already
    logged in (bearer access token; no marker)."""
    if mfa_token:
        ticket = _mfa_ticket(deps, mfa_token)
        return ticket.user_id, ticket.login_marker
    return _bearer_user(deps, request), None


def _bearer_user(deps: Deps, request: Request[Any, Any, Any]) -> uuid.UUID:
    """The user of the request's bearer access token (these routes skip the middleware)."""
    token = bearer_token(request.headers.get("authorization"))
    principal = (
        verify_access_token(deps.token_keys, token, now=deps.clock().timestamp())
        if token and looks_like_jwt(token)
        else None
    )
    if principal is None or principal.user_id is None:
        raise HttpProblem(401, "UNAUTHORIZED", "a user's access token or an mfa_token is required")
    return principal.user_id


def _user_of(caller: Principal) -> uuid.UUID:
    if caller.user_id is None:
        raise HttpProblem(403, "FORBIDDEN", "MFA belongs to users; an API key has none")
    return caller.user_id


class MfaController(Controller):
    path = MFA_PATH
    tags = ["auth"]

    @post(
        "/totp/setup",
        operation_id="setupTotp",
        summary="Start TOTP enrolment: a new secret, its otpauth URI and QR code",
        description=(
            "With a bearer access token and no body, or, for an admin whose login answered "
            "`mfa_enrollment_required`, with `{mfa_token}`. MFA is on once `/totp/confirm` "
            "accepts a code."
        ),
        status_code=200,
        opt=_PUBLIC,
        security=[],
        sync_to_thread=True,
        responses=problem_responses({**_COMMON, **_CODE, **_STATE}),
    )
    def setup(
        self,
        deps: Deps,
        request: Request[Any, Any, Any],
        data: JSONBody[EnrollRequest | None] = None,
    ) -> Response[TotpSetupView]:
        user_id, login = _enrolling_user(deps, request, data.mfa_token if data else None)
        result = service.setup_totp(deps.mfa, user_id, login=login)
        view = TotpSetupView(
            secret=result.secret, otpauth_uri=result.otpauth_uri, qr_svg=result.qr_svg
        )
        return Response(view, headers=NO_STORE)

    @post(
        "/totp/confirm",
        operation_id="confirmTotp",
        summary="Finish TOTP enrolment with a code: MFA on, 10 backup codes shown once",
        description=(
            "With `mfa_token` (an admin enrolling to log in) the answer also carries the "
            "login's tokens."
        ),
        status_code=200,
        opt=_PUBLIC,
        security=[],
        guards=[require_json],
        sync_to_thread=True,
        responses=problem_responses({**_COMMON, **_CODE, **_STATE}),
    )
    def confirm(
        self, data: JSONBody[ConfirmRequest], deps: Deps, request: Request[Any, Any, Any]
    ) -> Response[EnrolledView]:
        user_id, login = _enrolling_user(deps, request, data.mfa_token)
        deps.rate_limiter.hit_account(f"user:{user_id}", request.scope)
        done = service.confirm_totp(deps.mfa, user_id, data.code, login=login)
        tokens = token_view(done.tokens) if done.tokens else None
        return Response(
            EnrolledView(backup_codes=done.backup_codes, tokens=tokens), headers=NO_STORE
        )

    @post(
        "/verify",
        operation_id="verifyMfa",
        summary="Second factor of a login: a TOTP code, a backup code or an e-mailed code",
        description="Each code works once; a replayed TOTP code is refused and audited.",
        status_code=200,
        opt=_PUBLIC,
        security=[],
        guards=[require_json],
        sync_to_thread=True,
        responses=problem_responses({**_COMMON, **_CODE, **_STATE}),
    )
    def verify(
        self, data: JSONBody[VerifyRequest], deps: Deps, request: Request[Any, Any, Any]
    ) -> Response[TokenView]:
        ticket = _mfa_ticket(deps, data.mfa_token)
        deps.rate_limiter.hit_account(f"user:{ticket.user_id}", request.scope)
        pair = service.verify_login(
            deps.mfa, ticket.user_id, data.proof(), login=ticket.login_marker
        )
        return Response(token_view(pair), headers=NO_STORE)

    @post(
        "/email",
        operation_id="sendMfaEmail",
        summary="Mail a 6-digit code (10 minutes, single use; 3 per 15 minutes)",
        status_code=202,
        opt=_PUBLIC,
        security=[],
        guards=[require_json],
        sync_to_thread=True,
        responses=problem_responses(
            {
                **_COMMON,
                **_CODE,
                **_STATE,
                429: "MFA_EMAIL_LIMIT: 3 codes in 15 minutes already; see Retry-After.",
                503: "MAIL_UNAVAILABLE: the mail server did not take the message.",
            }
        ),
    )
    def email(
        self, data: JSONBody[EmailRequest], deps: Deps, request: Request[Any, Any, Any]
    ) -> None:
        ticket = _mfa_ticket(deps, data.mfa_token)
        deps.rate_limiter.hit_account(f"user:{ticket.user_id}", request.scope)
        send_email_code(deps.mfa, ticket.user_id, login=ticket.login_marker)

    @post(
        "/backup-codes",
        operation_id="regenerateBackupCodes",
        summary="Replace the backup codes (needs a fresh second factor)",
        status_code=200,
        guards=[require_json],
        sync_to_thread=True,
        responses=problem_responses({**_COMMON, **_BEARER, **_STATE}),
    )
    def backup_codes(
        self, data: JSONBody[ProofRequest], deps: Deps, principal: Caller
    ) -> Response[BackupCodesView]:
        codes = service.regenerate_backup_codes(deps.mfa, _user_of(principal), data.proof())
        return Response(BackupCodesView(backup_codes=codes), headers=NO_STORE)

    @delete(
        "/",
        operation_id="disableMfa",
        summary="Turn MFA off (needs a fresh second factor)",
        status_code=204,
        guards=[require_json],
        sync_to_thread=True,
        responses=problem_responses({**_COMMON, **_BEARER, **_STATE}),
    )
    def disable(self, data: JSONBody[ProofRequest], deps: Deps, principal: Caller) -> None:
        service.disable(deps.mfa, _user_of(principal), data.proof())

    @get(
        "/enrollment",
        operation_id="mfaEnrollment",
        summary="The tenant's MFA enrolment rate (admins)",
        guards=[admin_only],
        sync_to_thread=True,
        responses=problem_responses(
            {
                401: "UNAUTHORIZED: no valid access token or API key.",
                403: "FORBIDDEN: only admins.",
                500: _COMMON[500],
            }
        ),
    )
    def enrollment(self, deps: Deps, principal: Caller) -> EnrollmentView:
        return enrollment_view(service.enrollment(deps.uow_factory, principal.tenant_id))
