"""The Alembic migrations build, remove and rebuild the schema, on PostgreSQL and SQLite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from domain.adapters.db import migrate
from domain.adapters.db.engine import make_admin_engine
from domain.adapters.db.tables import metadata
from tests import harness

pytestmark = pytest.mark.integration

TABLES = {
    "tenants",
    "api_keys",
    "jobs",
    "assignments",
    "outbox",
    "idempotency_keys",
    "webhooks",
    "webhook_deliveries",
    "users",
    "refresh_tokens",
    "audit_events",
    "mfa_backup_codes",
    "mfa_email_codes",
}
HEAD = ScriptDirectory(str(migrate.MIGRATIONS)).get_current_head()


@pytest.fixture
def empty_postgres(postgres_admin_url: str) -> Iterator[str]:
    name = f"rota_migrate_{harness.worker_id()}_{os.getpid()}"
    yield harness.create_database(postgres_admin_url, name)
    harness.drop_database(postgres_admin_url, name)


@pytest.fixture
def sqlite_file(tmp_path: Path) -> str:
    # A directory that does not exist yet: the engine creates it, as for ./var/rota.db.
    return f"sqlite:///{tmp_path / 'var' / 'rota.db'}"


def inspect(url: str, look):
    engine = make_admin_engine(url)
    try:
        with engine.connect() as conn:
            return look(sa.inspect(conn), conn)
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    return inspect(url, lambda insp, _: set(insp.get_table_names()))


def schema_differences(url: str) -> list:
    return inspect(
        url, lambda _, conn: compare_metadata(MigrationContext.configure(conn), metadata)
    )


def test_upgrade_from_empty_builds_every_table_and_index(empty_postgres):
    assert migrate.current(empty_postgres) is None
    migrate.upgrade(empty_postgres)
    assert migrate.current(empty_postgres) == HEAD
    assert tables(empty_postgres) == TABLES | {"alembic_version"}
    key = inspect(empty_postgres, lambda insp, _: insp.get_pk_constraint("assignments"))
    assert key["constrained_columns"][:3] == ["job_id", "date", "employee_id"]
    job_indexes = inspect(empty_postgres, lambda insp, _: insp.get_indexes("jobs"))
    assert {tuple(i["column_names"]) for i in job_indexes} >= {
        ("tenant_id", "created_at", "id"),
        ("tenant_id", "status", "created_at", "id"),
    }


def test_client_ids_are_compared_byte_by_byte_whatever_the_servers_locale(empty_postgres):
    migrate.upgrade(empty_postgres)
    query = sa.text(
        "SELECT a.attname, c.collname FROM pg_attribute a"
        " JOIN pg_collation c ON c.oid = a.attcollation"
        " WHERE a.attrelid = 'assignments'::regclass AND a.attname IN ('employee_id', 'shift_id')"
    )
    collations = inspect(empty_postgres, lambda _, conn: dict(conn.execute(query).all()))
    assert collations == {"employee_id": "C", "shift_id": "C"}


def test_the_migrated_schema_is_the_one_the_code_queries(empty_postgres):
    migrate.upgrade(empty_postgres)
    assert schema_differences(empty_postgres) == []


def test_downgrade_to_base_leaves_no_tables_and_upgrade_works_again(empty_postgres):
    migrate.upgrade(empty_postgres)
    migrate.downgrade(empty_postgres)
    assert migrate.current(empty_postgres) is None
    # Alembic keeps its (now empty) version table; every table of ours is gone.
    assert tables(empty_postgres) == {"alembic_version"}
    migrate.upgrade(empty_postgres)
    assert tables(empty_postgres) == TABLES | {"alembic_version"}
    assert migrate.current(empty_postgres) == HEAD


def test_0006_adds_the_job_change_trigger_and_its_downgrade_removes_it(empty_postgres):
    def objects() -> tuple[list[str], list[str]]:
        def look(_, conn):
            triggers = conn.exec_driver_sql(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = 'jobs'::regclass"
                " AND NOT tgisinternal"
            )
            functions = conn.exec_driver_sql(
                "SELECT proname FROM pg_proc WHERE proname = 'rota_job_changed'"
            )
            return list(triggers.scalars()), list(functions.scalars())

        return inspect(empty_postgres, look)

    migrate.upgrade(empty_postgres)
    assert objects() == (["jobs_changed"], ["rota_job_changed"])
    migrate.downgrade(empty_postgres, "0005")
    assert objects() == ([], [])
    migrate.upgrade(empty_postgres)
    assert objects() == (["jobs_changed"], ["rota_job_changed"])


def test_upgrade_twice_is_a_no_op(empty_postgres):
    migrate.upgrade(empty_postgres)
    migrate.upgrade(empty_postgres)
    assert migrate.current(empty_postgres) == HEAD


def test_upgrade_and_downgrade_on_a_sqlite_file(sqlite_file):
    migrate.upgrade(sqlite_file)
    assert tables(sqlite_file) == TABLES | {"alembic_version"}
    assert migrate.current(sqlite_file) == HEAD
    assert schema_differences(sqlite_file) == []
    migrate.downgrade(sqlite_file)
    assert tables(sqlite_file) == {"alembic_version"}
    migrate.upgrade(sqlite_file)
    assert migrate.current(sqlite_file) == HEAD
