"""Which database failures the unit of work reports as domain errors
(domain.adapters.db.errors); the integration ring provokes the real ones on PostgreSQL."""

from __future__ import annotations

import sqlite3

import pytest
import sqlalchemy as sa

from domain.adapters.db.errors import translate, unavailable
from domain.errors import RetryableConflict, ServiceUnavailable


class DriverError(Exception):
    """Stands for a psycopg error: what SQLAlchemy wraps, with its SQLSTATE."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def wrapped(cls: type[sa.exc.DBAPIError], sqlstate: str | None, *, invalidated=False):
    return cls("UPDATE jobs ...", {}, DriverError(sqlstate), connection_invalidated=invalidated)


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_serialization_failures_and_deadlocks_may_be_retried(sqlstate):
    assert isinstance(translate(wrapped(sa.exc.OperationalError, sqlstate)), RetryableConflict)


@pytest.mark.parametrize("sqlstate", ["57P01", "08006", "08001", "55P03"])
def test_a_session_ended_by_the_server_or_a_lock_timeout_is_unavailable(sqlstate):
    error = translate(wrapped(sa.exc.OperationalError, sqlstate))
    assert type(error) is ServiceUnavailable


def test_a_lost_connection_is_unavailable_whatever_the_driver_said():
    error = translate(wrapped(sa.exc.OperationalError, None, invalidated=True))
    assert type(error) is ServiceUnavailable
    assert error.retry_after > 0


def test_an_exhausted_pool_is_unavailable():
    assert type(translate(sa.exc.TimeoutError("QueuePool limit"))) is ServiceUnavailable


def test_a_busy_sqlite_file_may_be_retried():
    busy = sqlite3.OperationalError("database is locked")
    busy.sqlite_errorname = "SQLITE_BUSY"
    error = sa.exc.OperationalError("INSERT ...", {}, busy)
    assert isinstance(translate(error), RetryableConflict)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(sa.exc.IntegrityError, "23505"),  # a bug or a race the caller handles
        wrapped(sa.exc.ProgrammingError, "42P01"),  # no such table: not migrated
        KeyError("not a database error"),
    ],
)
def test_other_errors_are_left_as_they_are(error):
    assert translate(error) is None


def test_any_database_error_while_connecting_is_unavailable():
    refused = wrapped(sa.exc.OperationalError, None)  # connection refused: no SQLSTATE
    assert translate(refused) is None
    assert type(unavailable(refused)) is ServiceUnavailable
    assert unavailable(KeyError("bug")) is None
