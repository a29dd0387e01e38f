"""A pooled connection is tested before use only if it has been idle for a while.

SQLAlchemy's `pool_pre_ping` sends `SELECT 1` on every checkout: a round trip and a few
hundred microseconds of Python per unit of work, which on the API's polled routes cost more
than their own query (`make bench-api`: a quarter of the rate of GET of a queued job). What a
ping catches is a connection the server dropped while it sat in the pool (a restart, a
failover, an idle timeout of a proxy); one used a moment ago is almost surely alive. So, as
HikariCP does (its `aliveBypassWindowMs`), a connection returned less than `after_seconds` ago
is handed out as it is, and an older one is pinged first and silently replaced if dead.

The price: when the server drops connections within that window of their last use, the
request that gets one fails (503, as any request in flight at that moment does) and
SQLAlchemy, seeing a disconnect, invalidates the whole pool, so the requests after it
reconnect.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

# Idle longer than this: ping before use.
PING_AFTER_IDLE_SECONDS = 2.0
_RETURNED_AT = "rota_returned_at"


def ping_after_idle(
    engine: sa.Engine,
    after_seconds: float = PING_AFTER_IDLE_SECONDS,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> None:
    """Install the checkin/checkout hooks on `engine` (made with `pool_pre_ping=False`)."""
    dialect = engine.dialect

    @sa.event.listens_for(engine, "checkin")
    def checkin(_dbapi: Any, record: Any) -> None:
        if record is not None:  # None when the connection was detached or invalidated
            record.info[_RETURNED_AT] = monotonic()

    @sa.event.listens_for(engine, "checkout")
    def checkout(dbapi: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.get(_RETURNED_AT)
        # No mark: a connection just made, nothing to test.
        if returned_at is None or monotonic() - returned_at < after_seconds:
            return
        try:
            dialect.do_ping(dbapi)
        except dialect.loaded_dbapi.Error as error:
            # Any failed ping replaces the connection (the pool discards it and checks out
            # another, a new one if need be; if the server itself is the problem, making that
            # one raises the real error). Not only what `dialect.is_disconnect` calls a
            # disconnect: psycopg reports the first error of a session the server ended
            # (pg_terminate_backend, as Vault's lease revocation runs) before it marks the
            # connection broken, and re-raising that answered 500s until the pool emptied
            # (tests/e2e/test_vault_platform.py).
            raise exc.DisconnectionError(f"pooled connection failed its ping: {error}") from error
