"""Errors a use case reports to its caller, each with a stable code.

The API maps the classes to HTTP statuses (api/errors.py) and the CLI to messages; the codes
are part of the public contract (docs/errors.md lists every one).
"""

from __future__ import annotations


class RotaError(Exception):
    code = "INTERNAL_ERROR"

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code


class NotFound(RotaError):
    code = "NOT_FOUND"


class Conflict(RotaError):
    code = "CONFLICT"


class InvalidRequest(RotaError):
    code = "INVALID_REQUEST"


class Unauthorized(RotaError):
    code = "UNAUTHORIZED"


class ServiceUnavailable(RotaError):
    """A backend (the database) cannot be reached right now; the same request may succeed
    after `retry_after` seconds. The API answers 503 with a Retry-After header."""

    code = "SERVICE_UNAVAILABLE"
    retry_after = 5


class RetryableConflict(ServiceUnavailable):
    """The database aborted the transaction to keep concurrent ones consistent (serialization
    failure, deadlock: SQLSTATE 40001/40P01). Running the whole use case again in a new
    transaction is safe; domain.services.retry does, a bounded number of times."""

    code = "TRANSACTION_CONFLICT"
    retry_after = 1


class TooManyAttempts(RotaError):
    """Too many attempts for one account (a locked account, too many e-mailed codes); the API
    answers 429 with a Retry-After header of `retry_after` seconds."""

    code = "TOO_MANY_ATTEMPTS"

    def __init__(self, detail: str, *, retry_after: int = 1, code: str | None = None) -> None:
        super().__init__(detail, code=code)
        self.retry_after = max(1, retry_after)
