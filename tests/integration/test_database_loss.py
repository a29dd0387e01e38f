"""PostgreSQL ends the API's connection in the middle of a request (pg_terminate_backend): the
transaction is rolled back, the request answers 503 with Retry-After, and the pool recovers so
the next request succeeds. The real app (create_app) on real PostgreSQL and Redis."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
import sqlalchemy as sa
from litestar.testing import TestClient

from api.app import create_app
from api.deps import ApiDeps
from domain.adapters.celery_config import SOLVE_QUEUE
from domain.adapters.celery_queue import CeleryJobQueue, make_producer_app
from domain.adapters.db import SqlUnitOfWork, make_engine, sql_uow_factory
from domain.adapters.db.engine import make_admin_engine
from domain.adapters.db.tables import jobs as jobs_table
from domain.services.tenants import create_api_key, create_tenant
from domain.settings import Settings
from tests.unit.api_support import SAMPLE

pytestmark = pytest.mark.integration

# Not a timing assertion: how long PostgreSQL may take to end a backend before the test fails.
TERMINATE_SECONDS = 30.0


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class KillAfterJobInsert(SqlUnitOfWork):
    """A unit of work whose server session is terminated right after the job row is inserted,
    as an operator's pg_terminate_backend or a failover would, mid-transaction."""

    def __init__(self, engine: sa.Engine, admin: sa.Engine, state: dict) -> None:
        super().__init__(engine)
        self._admin = admin
        self._state = state

    def __enter__(self):
        super().__enter__()
        add = self.jobs.add

        def add_then_die(job, problem) -> None:
            add(job, problem)
            if self._state["armed"]:
                self._state["armed"] = False
                self._state["job_id"] = job.id
                terminate(self._admin, self.jobs._conn)

        self.jobs.add = add_then_die  # type: ignore[method-assign]
        return self


def terminate(admin: sa.Engine, conn: sa.Connection) -> None:
    pid = conn.connection.dbapi_connection.info.backend_pid
    with admin.connect() as a:
        # With a timeout, pg_terminate_backend waits for the backend to exit (PostgreSQL 14+)
        # and is true only if it did.
        ended = a.execute(
            sa.text("SELECT pg_terminate_backend(:pid, :ms)"),
            {"pid": pid, "ms": int(TERMINATE_SECONDS * 1000)},
        ).scalar()
        assert ended, "the backend did not end"


@pytest.fixture
def api(
    postgres_url: str, redis_url: str
) -> Iterator[tuple[TestClient, dict, sa.Engine, uuid.UUID]]:
    settings = Settings(redis_url=redis_url, db_pool_size=2, db_max_overflow=0)
    engine = make_engine(settings, url=postgres_url)
    admin = make_admin_engine(postgres_url)
    state = {"armed": False}
    uow = sql_uow_factory(engine)
    tenant = create_tenant(f"loss-{time.monotonic_ns()}", uow, utc_now)
    key = create_api_key(tenant.name, uow, utc_now).secret

    def factory(*, read_only: bool = False) -> SqlUnitOfWork:
        if read_only:
            return SqlUnitOfWork(engine, read_only=True)
        return KillAfterJobInsert(engine, admin, state)

    queue = CeleryJobQueue(make_producer_app(settings))
    deps = ApiDeps(settings=settings, uow_factory=factory, queue=queue, clock=utc_now)
    try:
        with TestClient(create_app(deps)) as client:
            client.headers["Authorization"] = f"Bearer {key}"
            yield client, state, engine, tenant.id
    finally:
        queue.close()
        engine.dispose()
        admin.dispose()
        broker = redis.Redis.from_url(redis_url)
        broker.delete(SOLVE_QUEUE)  # nothing consumes the published job here
        broker.close()


def submit(client: TestClient):
    return client.post("/v1/jobs", content=SAMPLE, headers={"Content-Type": "application/json"})


def test_a_connection_killed_mid_request_answers_503_then_the_pool_recovers(api):
    client, state, engine, tenant_id = api
    assert client.get("/v1/jobs").status_code == 200  # authenticated (and cached) beforehand
    state["armed"] = True

    lost = submit(client)

    assert lost.status_code == 503, lost.text
    assert lost.headers["content-type"].startswith("application/problem+json")
    assert lost.json()["code"] == "SERVICE_UNAVAILABLE"
    assert int(lost.headers["retry-after"]) > 0
    assert "job_id" in state  # the session really died between two statements
    assert engine.pool.checkedout() == 0

    again = submit(client)
    assert again.status_code == 202, again.text
    assert client.get(f"/v1/jobs/{again.json()['id']}").json()["status"] == "queued"

    # The interrupted transaction left nothing: only the second job exists.
    with engine.connect() as conn:
        stored = conn.execute(
            sa.select(jobs_table.c.id).where(jobs_table.c.tenant_id == tenant_id)
        ).scalars()
        assert [str(job_id) for job_id in stored] == [again.json()["id"]]
