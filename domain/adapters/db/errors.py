"""Database failures that a caller can act on, as domain errors (domain.errors).

Services cannot catch SQLAlchemy's exceptions (they import no adapter), yet two kinds of
failure call for a reaction rather than a 500: a transaction the database aborted to keep
concurrent ones consistent (retry it: domain.services.retry), and a database that cannot be
reached (answer 503 and let the client retry). The unit of work raises these instead.
"""

from __future__ import annotations

import sqlite3

import sqlalchemy as sa

from domain.errors import RetryableConflict, RotaError, ServiceUnavailable

# PostgreSQL error codes (Appendix A of its manual).
SERIALIZATION_FAILURE = "40001"
DEADLOCK_DETECTED = "40P01"
# lock_timeout passed (engine.LOCK_TIMEOUT_MS): another transaction holds the row for long.
LOCK_NOT_AVAILABLE = "55P03"
# The server ends our session: pg_terminate_backend, a shutdown, or still starting up.
_SESSION_ENDED = frozenset({"57P01", "57P02", "57P03"})
# Class 08: connection exceptions.
_CONNECTION_CLASS = "08"

_UNAVAILABLE_DETAIL = "the database is unavailable; retry the request shortly"


def translate(exc: BaseException) -> RotaError | None:
    """The domain error for `exc`, or None when it is not one of those kinds."""
    if isinstance(exc, sa.exc.TimeoutError):  # every pooled connection busy for pool_timeout
        return ServiceUnavailable("no database connection is free; retry the request shortly")
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    state = getattr(exc.orig, "sqlstate", None)
    if state in (SERIALIZATION_FAILURE, DEADLOCK_DETECTED):
        return RetryableConflict("the transaction conflicted with a concurrent one")
    if _sqlite_busy(exc.orig):
        return RetryableConflict("the database is locked by another writer")
    if (
        exc.connection_invalidated
        or state == LOCK_NOT_AVAILABLE
        or state in _SESSION_ENDED
        or (state or "").startswith(_CONNECTION_CLASS)
    ):
        return ServiceUnavailable(_UNAVAILABLE_DETAIL)
    return None


def unavailable(exc: BaseException) -> RotaError | None:
    """For a failure to get a connection at all: any database error means unavailable."""
    if isinstance(exc, sa.exc.DBAPIError | sa.exc.TimeoutError):
        return translate(exc) or ServiceUnavailable(_UNAVAILABLE_DETAIL)
    return None


def _sqlite_busy(error: BaseException | None) -> bool:
    # busy_timeout passed while another process held the write lock (engine.py).
    return isinstance(error, sqlite3.OperationalError) and getattr(
        error, "sqlite_errorname", ""
    ).startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))
