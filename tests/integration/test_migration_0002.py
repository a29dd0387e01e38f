"""Migration 0002 (outbox, idempotency keys, job cancellation) goes up and down on PostgreSQL
and SQLite, and keeps the jobs that were there before it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from domain.adapters.db import migrate, sql_uow_factory
from domain.adapters.db.engine import make_admin_engine, make_engine
from domain.jobs import JobStatus
from domain.settings import Settings
from tests import harness
from tests.integration import records as r

pytestmark = pytest.mark.integration

NEW_TABLES = {"outbox", "idempotency_keys"}


@pytest.fixture(params=["postgresql", "sqlite"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rota.db'}"
        return
    admin = request.getfixturevalue("postgres_admin_url")
    name = f"rota_m0002_{harness.worker_id()}_{os.getpid()}"
    yield harness.create_database(admin, name)
    harness.drop_database(admin, name)


def schema(url: str) -> tuple[set[str], set[str]]:
    """The tables, and the columns of `jobs`."""
    engine = make_admin_engine(url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            tables = set(inspector.get_table_names())
            columns = {c["name"] for c in inspector.get_columns("jobs")}
        return tables, columns
    finally:
        engine.dispose()


def test_0002_adds_the_outbox_keys_and_cancel_column_and_removes_them_again(empty_database):
    url = empty_database
    migrate.upgrade(url, "0001")
    tables, columns = schema(url)
    assert not tables & NEW_TABLES
    assert "cancel_requested_at" not in columns

    migrate.upgrade(url, "0002")
    assert migrate.current(url) == "0002"
    tables, columns = schema(url)
    assert tables >= NEW_TABLES
    assert "cancel_requested_at" in columns

    migrate.downgrade(url, "0001")
    assert migrate.current(url) == "0001"
    tables, columns = schema(url)
    assert not tables & NEW_TABLES
    assert "cancel_requested_at" not in columns

    migrate.upgrade(url, "0002")
    assert schema(url)[0] >= NEW_TABLES


def test_jobs_stored_before_0002_survive_it_and_can_be_cancelled(empty_database):
    url = empty_database
    migrate.upgrade(url, "0001")
    engine = make_engine(Settings(), url=url)
    try:
        tenant = r.tenant()
        job = r.job(tenant.id)
        with engine.begin() as conn:
            conn.execute(
                sa.text("INSERT INTO tenants (id, name, created_at) VALUES (:id, :name, :at)"),
                {"id": tenant.id.hex, "name": tenant.name, "at": tenant.created_at},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO jobs (id, tenant_id, status, attempts, correlation_id,"
                    " cache_key, time_limit_seconds, problem, options, created_at)"
                    " VALUES (:id, :tenant, 'queued', 0, 'req', 'k', 5, '{}', '{}', :at)"
                ),
                {"id": job.id.hex, "tenant": tenant.id.hex, "at": job.created_at},
            )
        migrate.upgrade(url, "0002")
        uow = sql_uow_factory(engine)
        with uow() as w:
            assert w.jobs.cancel_queued(job.id, r.T0)
            w.commit()
        with uow(read_only=True) as w:
            stored = w.jobs.get(job.id)
        assert stored is not None
        assert stored.status is JobStatus.CANCELLED
    finally:
        engine.dispose()
