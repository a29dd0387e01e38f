"""A SQLAlchemy engine that connects as the current leased user (LeasedCredentials).

- `do_connect`: every new connection takes the current user and password; when PostgreSQL
  refuses them (the user was dropped by a revocation, or has expired), a new user is drawn and
  the connection tried once more with it.
- `checkout`: a pooled connection made with an older generation of credentials is replaced
  before use (SQLAlchemy retries the checkout with a fresh connection), so a rotation drains
  the pool gracefully: nothing in flight is interrupted by us.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import Engine

from domain.adapters.vault.leases import LeasedCredentials

log = logging.getLogger(__name__)

GENERATION = "rota_credentials_generation"
# What PostgreSQL says when a user does not exist, has expired or is refused.
_REFUSED = ("does not exist", "password authentication failed", "authentication failed")
# SQLSTATE 28000 / 28P01: invalid authorization / invalid password.
_REFUSED_STATES = {"28000", "28P01"}


def use_leased_credentials(engine: Engine, credentials: LeasedCredentials) -> None:
    """Make `engine` connect as `credentials`' current user (see the module docstring)."""

    @sa.event.listens_for(engine, "do_connect")
    def connect(dialect: Any, record: Any, cargs: tuple, cparams: dict) -> Any:
        for attempt in (1, 2):
            user, generation = credentials.current()
            params = {**cparams, "user": user.username, "password": user.password}
            try:
                connection = dialect.connect(*cargs, **params)
            except psycopg.OperationalError as error:
                if attempt == 2 or not _refused(error) or not credentials.refused(generation):
                    raise
                log.warning("database refused %s; retrying with a new user", user.username)
                continue
            record.info[GENERATION] = generation
            return connection
        raise AssertionError("unreachable")  # the loop returns or raises

    @sa.event.listens_for(engine, "checkout")
    def checkout(_dbapi: Any, record: Any, _proxy: Any) -> None:
        if record.info.get(GENERATION, credentials.generation) != credentials.generation:
            raise exc.DisconnectionError("made with database credentials that were replaced")


def _refused(error: psycopg.OperationalError) -> bool:
    state = getattr(getattr(error, "diag", None), "sqlstate", None)
    if state in _REFUSED_STATES:
        return True
    text = str(error)
    return any(marker in text for marker in _REFUSED)
