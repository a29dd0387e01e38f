"""The SQL unit of work: one pooled connection, one transaction per use case (STYLE.md 3)."""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Self

from sqlalchemy.engine import Connection, Engine

from domain.adapters.db.assignments import SqlAssignments
from domain.adapters.db.jobs import SqlJobs
from domain.adapters.db.tenants import SqlApiKeys, SqlTenants
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

    def __init__(self, engine: Engine, *, read_only: bool = False) -> None:
        self._engine = engine
        self._read_only = read_only
        self._conn: Connection | None = None

    def __enter__(self) -> Self:
        conn = self._engine.connect()
        if self._read_only:
            # No transaction: each query sees the latest committed data, and the pool's reset
            # restores the engine's isolation level when the connection is returned.
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        self._conn = conn
        self.tenants = SqlTenants(conn)
        self.api_keys = SqlApiKeys(conn)
        self.jobs = SqlJobs(conn)
        self.assignments = SqlAssignments(conn)
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
        except Exception:
            if exc is None:
                raise
            # The connection is likely what failed; the use case's own error is the one to see.
            log.warning("rollback failed while leaving a unit of work", exc_info=True)
        finally:
            conn.close()

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


def sql_uow_factory(engine: Engine) -> UnitOfWorkFactory:
    """A factory of units of work on `engine`, for the services."""

    def factory(*, read_only: bool = False) -> SqlUnitOfWork:
        return SqlUnitOfWork(engine, read_only=read_only)

    return factory
