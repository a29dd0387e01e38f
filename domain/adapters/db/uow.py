"""The SQL unit of work: one pooled connection, one transaction per use case (STYLE.md 3).

Failures the caller can act on leave it as domain errors (domain.adapters.db.errors): a
serialization failure or deadlock as RetryableConflict, a lost database as ServiceUnavailable.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from sqlalchemy.engine import Connection, Engine

from domain.adapters.db.assignments import SqlAssignments
from domain.adapters.db.errors import translate, unavailable
from domain.adapters.db.idempotency import SqlIdempotencyKeys
from domain.adapters.db.jobs import SqlJobs
from domain.adapters.db.mfa import SqlMfa
from domain.adapters.db.outbox import SqlOutbox
from domain.adapters.db.tenants import SqlApiKeys, SqlTenants
from domain.adapters.db.users import SqlAudit, SqlRefreshTokens, SqlUsers
from domain.adapters.db.webhooks import SqlDeliveries, SqlWebhooks
from domain.mfa.keyring import Keyring
from domain.ports import UnitOfWorkFactory

log = logging.getLogger(__name__)


class SqlUnitOfWork:
    """domain.ports.UnitOfWork on SQLAlchemy Core.

    The connection begins a transaction by itself on first use and again after each commit;
    leaving the `with` block rolls back whatever was not committed and returns the connection
    to the pool, whatever happened inside.
    """

    tenants: SqlTenants
    api_keys: SqlApiKeys
    jobs: SqlJobs
    assignments: SqlAssignments
    outbox: SqlOutbox
    idempotency: SqlIdempotencyKeys
    webhooks: SqlWebhooks
    deliveries: SqlDeliveries
    users: SqlUsers
    refresh_tokens: SqlRefreshTokens
    audit: SqlAudit
    mfa: SqlMfa

    def __init__(
        self, engine: Engine, *, read_only: bool = False, webhook_keyring: Keyring | None = None
    ) -> None:
        self._engine = engine
        self._read_only = read_only
        self._webhook_keyring = webhook_keyring
        self._conn: Connection | None = None

    def __enter__(self) -> Self:
        try:
            # A pooled connection idle for a while is pinged and replaced if the server dropped
            # it (idle_ping.py); this fails only when no new one can be made (or the pool stays
            # exhausted for pool_timeout).
            conn = self._engine.connect()
        except Exception as exc:
            if (error := unavailable(exc)) is not None:
                raise error from exc
            raise
        if self._read_only:
            # No transaction: each query sees the latest committed data, and the pool's reset
            # restores the engine's isolation level when the connection is returned.
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        self._conn = conn
        self.tenants = SqlTenants(conn)
        self.api_keys = SqlApiKeys(conn)
        self.jobs = SqlJobs(conn)
        self.assignments = SqlAssignments(conn)
        self.outbox = SqlOutbox(conn)
        self.idempotency = SqlIdempotencyKeys(conn)
        self.webhooks = SqlWebhooks(conn, self._webhook_keyring)
        self.deliveries = SqlDeliveries(conn)
        self.users = SqlUsers(conn)
        self.refresh_tokens = SqlRefreshTokens(conn)
        self.audit = SqlAudit(conn)
        self.mfa = SqlMfa(conn)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        conn, self._conn = self._connection(), None
        try:
            conn.rollback()
        except Exception as failure:
            if exc is None:
                _raise_translated(failure)
            # The connection is likely what failed; the use case's own error is the one to see.
            log.warning("rollback failed while leaving a unit of work", exc_info=True)
        finally:
            # Returns the connection to the pool; one the server dropped was invalidated by
            # SQLAlchemy and is replaced, so the pool recovers by itself.
            conn.close()
        if exc is not None and (error := translate(exc)) is not None:
            raise error from exc

    def commit(self) -> None:
        if self._read_only:
            raise RuntimeError("a read-only unit of work cannot commit")
        self._connection().commit()

    def rollback(self) -> None:
        self._connection().rollback()

    def _connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("the unit of work is used outside its `with` block")
        return self._conn


def _raise_translated(failure: Exception) -> None:
    if (error := translate(failure)) is not None:
        raise error from failure
    raise failure


def sql_uow_factory(engine: Engine, *, webhook_keyring: Keyring | None = None) -> UnitOfWorkFactory:
    """A factory of units of work on `engine`, for the services; `webhook_keyring` encrypts
    webhook signing secrets at rest (None: stored as they are)."""

    def factory(*, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, read_only=read_only, webhook_keyring=webhook_keyring)

    return factory
