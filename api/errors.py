"""Every error as an RFC 9457 problem document, with a stable code and the correlation id.

One exception handler covers the whole app (routing errors included), so no error can leave
in Litestar's own format. Client errors say what was wrong; anything unexpected is logged
with the correlation id and answers a bare 500, because a traceback or an exception's text
could reveal internals (table names, hosts, file paths).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    SerializationException,
    ValidationException,
)

from api.request_id import request_id_of
from api.schemas import FieldIssue, ProblemDetails
from domain.errors import (
    Conflict,
    InvalidRequest,
    NotFound,
    RotaError,
    ServiceUnavailable,
    TooManyAttempts,
    Unauthorized,
)
from domain.validation import ProblemInvalid

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# RFC 6750 section 3: a 401 tells the client which scheme to use.
WWW_AUTHENTICATE = 'Bearer realm="rota"'
MAX_MESSAGE_CHARS = 300  # Litestar echoes client input (enum values ...) in its messages

_DOMAIN_STATUS: dict[type[RotaError], int] = {
    NotFound: 404,
    Conflict: 409,
    InvalidRequest: 400,
    Unauthorized: 401,
    ServiceUnavailable: 503,
    TooManyAttempts: 429,
}
# Codes and details of the errors Litestar raises on its own (routing, body size ...). The
# exception's own text is not used: it may quote internals.
_HTTP_ERRORS: dict[int, tuple[str, str]] = {
    400: ("INVALID_REQUEST", "the request is malformed"),
    401: ("UNAUTHORIZED", "authentication required"),
    403: ("FORBIDDEN", "not allowed"),
    404: ("NOT_FOUND", "no resource at this address"),
    405: ("METHOD_NOT_ALLOWED", "this method is not allowed on this resource"),
    413: ("PAYLOAD_TOO_LARGE", "the request body is too large"),
    415: ("UNSUPPORTED_MEDIA_TYPE", "unsupported content type"),
    429: ("RATE_LIMITED", "too many requests"),
}
# Headers of Litestar's exceptions that a client needs (the methods a 405 resource allows).
_KEPT_HEADERS = frozenset({"allow", "retry-after"})
_encoder = msgspec.json.Encoder()


class HttpProblem(Exception):
    """An error the API layer raises itself, already in HTTP terms (401, 415, 503)."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        checks: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {})
        self.checks = checks


def problem_type(code: str) -> str:
    """The problem's `type` URI: a stable name per code (RFC 9457 section 3.1.1)."""
    return "urn:rota:problem:" + code.lower().replace("_", "-")


def problem_response(
    request_id: str,
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[FieldIssue] | None = None,
    checks: dict[str, str] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response[bytes]:
    body = ProblemDetails(
        type=problem_type(code),
        title=HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        code=code,
        correlation_id=request_id,
        errors=errors,
        checks=checks,
    )
    all_headers = dict(headers or {})
    if status == 401:
        all_headers.setdefault("WWW-Authenticate", WWW_AUTHENTICATE)
    return Response(
        content=_encoder.encode(body),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=all_headers,
    )


class ProblemMapper:
    """The app's exception handler: any exception -> problem+json response."""

    def __call__(self, request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        request_id = request_id_of(request.scope)
        if isinstance(exc, ProblemInvalid):
            n = len(exc.issues)
            return problem_response(
                request_id,
                422,
                "VALIDATION_FAILED",
                f"the problem has {n} issue{'s' if n != 1 else ''}",
                errors=[
                    FieldIssue(path=i.path, code=i.code, message=i.message) for i in exc.issues
                ],
            )
        if isinstance(exc, HttpProblem):
            return problem_response(
                request_id, exc.status, exc.code, exc.detail, headers=exc.headers, checks=exc.checks
            )
        if isinstance(exc, RotaError) and (status := _domain_status(exc)):
            return self._domain(request, request_id, exc, status)
        if isinstance(exc, HTTPException) and exc.status_code < 500:
            return self._http(request, request_id, exc)
        if _client_left(exc):
            # The client hung up while sending its body: nobody reads this answer, and it is
            # no fault of ours (no error log, no Sentry event).
            log.info(
                "client disconnected during the request body", extra={"request_id": request_id}
            )
            return problem_response(
                request_id, 400, "CLIENT_DISCONNECTED", "the client closed the connection"
            )
        if _too_deep(exc):
            return problem_response(
                request_id, 400, "INVALID_REQUEST", "the JSON body is nested too deeply"
            )
        return self._internal(request, request_id, exc)

    @staticmethod
    def _domain(
        request: Request[Any, Any, Any], request_id: str, exc: RotaError, status: int
    ) -> Response[bytes]:
        headers = {}
        if isinstance(exc, TooManyAttempts):
            headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, ServiceUnavailable):
            headers["Retry-After"] = str(exc.retry_after)
            # An answer, not a fault (so no Sentry event), but an operator must see it.
            log.warning(
                "%s on %s %r: %s",
                exc.code,
                request.method,
                request.scope.get("path"),
                type(exc.__cause__).__name__ if exc.__cause__ else exc.detail,
                extra={"request_id": request_id},
            )
        return problem_response(request_id, status, exc.code, exc.detail, headers=headers)

    @staticmethod
    def _http(
        request: Request[Any, Any, Any], request_id: str, exc: HTTPException
    ) -> Response[bytes]:
        status = exc.status_code
        code, detail = _HTTP_ERRORS.get(status, ("INVALID_REQUEST", HTTPStatus(status).phrase))
        if status == 413:
            # The cap of this route (problems may be larger than other bodies).
            limit = request.route_handler.resolve_request_max_body_size()
            detail = f"the request body is larger than {limit} bytes"
        headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() in _KEPT_HEADERS}
        errors = _parameter_issues(exc) if isinstance(exc, ValidationException) else None
        if isinstance(exc.__cause__, SerializationException):
            # A body that is not JSON msgspec accepts (NaN, a lone surrogate, a number out of
            # range, truncated): 422, as the same body sent as a problem gets.
            message = str(exc.__cause__)[:MAX_MESSAGE_CHARS]
            errors = [FieldIssue(path="body", code="MALFORMED_JSON", message=message)]
            return problem_response(
                request_id,
                422,
                "VALIDATION_FAILED",
                "the request body is not valid JSON",
                errors=errors,
                headers=headers,
            )
        if errors and any(e.path.startswith("body") for e in errors):
            # Well-formed JSON that does not fit the schema (an unknown field, a wrong type, a
            # value out of range): 422, as for problems; malformed JSON stays a 400.
            status, code, detail = 422, "VALIDATION_FAILED", "the request body is invalid"
        elif errors:
            detail = "invalid request parameters"
        return problem_response(request_id, status, code, detail, errors=errors, headers=headers)

    @staticmethod
    def _internal(
        request: Request[Any, Any, Any], request_id: str, exc: Exception
    ) -> Response[bytes]:
        log.error(
            "unhandled %s on %s %r (correlation_id=%s)",
            type(exc).__name__,
            request.method,
            request.scope.get("path"),  # %r: a path may hold a decoded newline
            request_id,
            exc_info=exc,
            extra={"request_id": request_id},
        )
        return problem_response(
            request_id,
            500,
            "INTERNAL_ERROR",
            "an unexpected error occurred; quote the correlation_id when reporting it",
        )


def is_expected(exc: BaseException) -> bool:
    """True for an error that is one of the API's answers (a 4xx, NOT_READY, a 503 asking to
    retry) rather than a fault. Sentry hears only of the others: its Litestar integration
    reports every exception but Litestar's own 4xx, and a client's typo must not page anyone."""
    if isinstance(exc, ProblemInvalid | HttpProblem) or _too_deep(exc) or _client_left(exc):
        return True
    if isinstance(exc, RotaError):
        return _domain_status(exc) is not None
    return isinstance(exc, HTTPException) and exc.status_code < 500


def _client_left(exc: BaseException) -> bool:
    """Litestar's report of an `http.disconnect` while reading the body (a 500 by its
    own classification; connection/request.py)."""
    return (
        isinstance(exc, InternalServerException) and exc.detail == "client disconnected prematurely"
    )


def _too_deep(exc: BaseException) -> bool:
    """msgspec's refusal of JSON nested past its depth limit, when Litestar decodes a body:
    it raises RecursionError (with this wording) instead of a DecodeError."""
    return isinstance(exc, RecursionError) and "while deserializing" in str(exc)


def _domain_status(exc: RotaError) -> int | None:
    return next((s for cls, s in _DOMAIN_STATUS.items() if isinstance(exc, cls)), None)


def _parameter_issues(exc: ValidationException) -> list[FieldIssue]:
    """The parameters Litestar rejected: [{"key": "limit", "source": "query", "message": ...}]."""
    extra = exc.extra if isinstance(exc.extra, list) else []
    issues = []
    for item in extra:
        if not isinstance(item, dict):
            continue
        key = str(item.get("key", ""))[:MAX_MESSAGE_CHARS]
        source = item.get("source") or "query"
        source = str(getattr(source, "value", source))  # Litestar gives a ParamType enum
        issues.append(
            FieldIssue(
                path=f"{source}.{key}" if key else source,
                code="INVALID_PARAMETER",
                message=str(item.get("message", "invalid value"))[:MAX_MESSAGE_CHARS],
            )
        )
    return issues
