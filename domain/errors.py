"""Errors a use case reports to its caller, each with a stable code.

The API maps the classes to HTTP statuses (api/errors.py) and the CLI to messages; the codes
are part of the public contract (README "Error codes").
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
