"""Session fixtures of the integration and end-to-end rings: real PostgreSQL and Redis.

Nothing here runs until a test asks for it, and the harness is imported inside the fixtures,
so the unit ring pays for none of it (tests/harness.py says how the servers are found).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A PostgreSQL server (the configured one, or a throwaway): URL of its admin database."""
    from tests import harness

    with harness.postgres_server(harness.configured_postgres_url()) as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """This worker's own database, schema built by `alembic upgrade head`."""
    from tests import harness

    with harness.migrated_database(postgres_admin_url) as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """This worker's own Redis database (redis://host:port/N), empty at the start."""
    from tests import harness

    with (
        harness.redis_server(harness.configured_redis_url()) as base,
        harness.worker_redis(base) as url,
    ):
        yield url


@pytest.fixture(scope="session")
def db_engine(postgres_url: str) -> Iterator[Engine]:
    """The service's pooled engine (make_engine) on this worker's database."""
    from domain.adapters.db.engine import make_engine
    from domain.settings import Settings

    engine = make_engine(Settings(), url=postgres_url)
    yield engine
    engine.dispose()
