"""SqlUnitOfWork on PostgreSQL: commit is explicit, everything else rolls back (STYLE.md 3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from domain.adapters.db import SqlUnitOfWork, make_engine, sql_uow_factory
from domain.settings import Settings
from tests.integration import records as r

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    # Its own small pool, so the checked-out count belongs to this test alone.
    engine = make_engine(Settings(db_pool_size=2, db_max_overflow=0), url=postgres_url)
    yield engine
    engine.dispose()


def stored(engine: sa.Engine, name: str) -> bool:
    with SqlUnitOfWork(engine) as uow:
        return uow.tenants.get_by_name(name) is not None


def test_commit_persists(engine):
    tenant = r.tenant()
    with sql_uow_factory(engine)() as uow:
        uow.tenants.add(tenant)
        uow.commit()
    assert stored(engine, tenant.name)


def test_leaving_without_commit_rolls_back(engine):
    tenant = r.tenant()
    with SqlUnitOfWork(engine) as uow:
        uow.tenants.add(tenant)
        assert uow.tenants.get_by_name(tenant.name) == tenant  # visible inside
    assert not stored(engine, tenant.name)


def test_an_exception_rolls_back_and_propagates(engine):
    tenant = r.tenant()

    def failing_use_case() -> None:
        with SqlUnitOfWork(engine) as uow:
            uow.tenants.add(tenant)
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        failing_use_case()
    assert not stored(engine, tenant.name)


def test_work_after_a_commit_needs_its_own_commit(engine):
    first, second = r.tenant(), r.tenant()
    with SqlUnitOfWork(engine) as uow:
        uow.tenants.add(first)
        uow.commit()
        uow.tenants.add(second)
    assert stored(engine, first.name)
    assert not stored(engine, second.name)


def test_rollback_discards_and_the_unit_stays_usable(engine):
    dropped, kept = r.tenant(), r.tenant()
    with SqlUnitOfWork(engine) as uow:
        uow.tenants.add(dropped)
        uow.rollback()
        uow.tenants.add(kept)
        uow.commit()
    assert not stored(engine, dropped.name)
    assert stored(engine, kept.name)


def test_a_failed_statement_does_not_poison_the_next_unit(engine):
    tenant = r.tenant()
    with SqlUnitOfWork(engine) as uow:
        uow.tenants.add(tenant)
        uow.commit()
    with pytest.raises(sa.exc.IntegrityError), SqlUnitOfWork(engine) as uow:
        uow.tenants.add(tenant)  # the same id and name again
    with SqlUnitOfWork(engine) as uow:  # the pooled connection was cleaned up
        assert uow.tenants.get_by_name(tenant.name) == tenant


def test_the_connection_returns_to_the_pool_on_every_exit(engine):
    pool = engine.pool
    with SqlUnitOfWork(engine) as uow:
        uow.tenants.get_by_name("anyone")
        assert pool.checkedout() == 1
    assert pool.checkedout() == 0
    with SqlUnitOfWork(engine) as uow:
        uow.tenants.add(r.tenant())
        uow.commit()
    assert pool.checkedout() == 0
    with pytest.raises(RuntimeError), SqlUnitOfWork(engine):
        raise RuntimeError
    assert pool.checkedout() == 0


def test_more_units_than_the_pool_holds_run_one_after_another(engine):
    # Pool of 2 without overflow: a leaked connection would make the third unit wait and fail.
    for _ in range(5):
        with SqlUnitOfWork(engine) as uow:
            uow.tenants.get_by_name("anyone")
    assert engine.pool.checkedout() == 0


def test_a_unit_cannot_be_used_outside_its_block(engine):
    uow = SqlUnitOfWork(engine)
    with pytest.raises(RuntimeError, match="outside"):
        uow.commit()
    with uow:
        pass
    with pytest.raises(RuntimeError, match="outside"):
        uow.rollback()


def test_a_read_only_unit_of_work_reads_outside_a_transaction_and_cannot_commit(engine):
    tenant = r.tenant()
    with sql_uow_factory(engine)() as uow:
        uow.tenants.add(tenant)
        uow.commit()
    with sql_uow_factory(engine)(read_only=True) as uow:
        assert uow.tenants.get_by_name(tenant.name) == tenant
        # psycopg opened no transaction: no BEGIN and no ROLLBACK round trip for a query.
        raw = uow.tenants._conn.connection.dbapi_connection
        assert raw.info.transaction_status.name == "IDLE"
        with pytest.raises(RuntimeError, match="read-only"):
            uow.commit()


def test_a_read_only_connection_goes_back_to_the_pool_transactional_again(engine):
    with sql_uow_factory(engine)(read_only=True) as uow:
        uow.tenants.get_by_name("nobody")
    # The pool hands the same connection out next; a writer must get its transaction back.
    tenant = r.tenant()
    with sql_uow_factory(engine)() as uow:
        uow.tenants.add(tenant)
    assert not stored(engine, tenant.name)
