"""Users, refresh tokens, audit events and API-key management on a real database (PostgreSQL
and SQLite), and the identity use cases end to end on PostgreSQL: unique emails whatever their
case, one winner among concurrent refreshes, family revocation, tenant-scoped audit pages."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from domain.adapters.db import migrate, sql_uow_factory
from domain.adapters.db.engine import make_engine
from domain.errors import Conflict, ServiceUnavailable, Unauthorized
from domain.identity import AuditEvent, AuditKind, User
from domain.ports import UnitOfWorkFactory
from domain.services import identity
from domain.services.api_keys import create_key, list_keys, revoke_key
from domain.services.audit import list_events
from domain.services.identity import NewUser, TokenPair
from domain.settings import Settings
from domain.tenancy import Principal, Role, Tenant
from tests.integration import records as r

pytestmark = pytest.mark.integration

T0 = r.T0
PASSWORD = "a long and unusual phrase"
SETTINGS = Settings(jwt_secret="j" * 48)


@pytest.fixture(scope="module")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    url = f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'rota.db'}"
    migrate.upgrade(url)
    engine = make_engine(Settings(), url=url)
    yield engine
    engine.dispose()


@pytest.fixture(params=["postgresql", "sqlite"])
def uow(request: pytest.FixtureRequest) -> UnitOfWorkFactory:
    name = "db_engine" if request.param == "postgresql" else "sqlite_engine"
    return sql_uow_factory(request.getfixturevalue(name))


@pytest.fixture
def pg(db_engine) -> UnitOfWorkFactory:
    return sql_uow_factory(db_engine)


def clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def add_tenant(uow) -> Tenant:
    tenant = r.tenant()
    with uow() as u:
        u.tenants.add(tenant)
        u.commit()
    return tenant


def new_tenant(uow) -> uuid.UUID:
    return add_tenant(uow).id


def user_record(tenant_id: uuid.UUID, email: str) -> User:
    return User(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        email=email,
        password_hash="$argon2id$not-a-real-hash",
        role=Role.PLANNER,
        created_at=T0,
    )


def test_a_user_round_trips_with_its_mfa_columns(uow):
    tenant_id = new_tenant(uow)
    email = f"{uuid.uuid4().hex}@example.com"
    user = user_record(tenant_id, email)
    with uow() as u:
        u.users.add(user)
        u.commit()

    with uow() as u:
        stored = u.users.get_by_email(email)
        assert u.users.get(user.id, uuid.uuid4()) is None  # another tenant
        assert u.users.record_failure(user.id) == 1
        assert u.users.record_failure(user.id) == 2
        u.commit()
    assert stored == user
    assert (stored.mfa_enabled, stored.totp_secret_encrypted, stored.totp_last_step) == (
        False,
        None,
        None,
    )
    with uow() as u:
        u.users.record_login(user.id, T0)
        u.commit()
        assert u.users.get(user.id).failed_logins == 0


def test_the_email_unique_constraint_holds_in_the_database(uow):
    tenant_id = new_tenant(uow)
    email = f"{uuid.uuid4().hex}@example.com"
    with uow() as u:
        u.users.add(user_record(tenant_id, email))
        u.commit()

    with pytest.raises(Conflict), uow() as u:
        u.users.add(user_record(new_tenant(uow), email))


def test_create_user_refuses_an_email_in_another_case(pg):
    tenant_name = add_tenant(pg).name
    email = f"{uuid.uuid4().hex}@Example.com"
    identity.create_user(NewUser(tenant_name, email, PASSWORD, Role.VIEWER), pg, clock)

    with pytest.raises(Conflict):
        identity.create_user(NewUser(tenant_name, email.upper(), PASSWORD, Role.VIEWER), pg, clock)


def logged_in(pg) -> tuple[uuid.UUID, TokenPair]:
    tenant = add_tenant(pg)
    email = f"{uuid.uuid4().hex}@example.com"
    identity.create_user(NewUser(tenant.name, email, PASSWORD, Role.PLANNER), pg, clock)
    pair = identity.login(email, PASSWORD, pg, clock, SETTINGS)
    assert isinstance(pair, TokenPair)
    return tenant.id, pair


def test_of_concurrent_refreshes_with_one_token_exactly_one_wins_and_the_family_dies(pg):
    _, pair = logged_in(pg)
    results: list[object] = []
    barrier = threading.Barrier(4)

    def use() -> None:
        barrier.wait()
        try:
            results.append(identity.refresh(pair.refresh_token, pg, clock, SETTINGS))
        except Exception as error:  # the test counts each outcome
            results.append(error)

    threads = [threading.Thread(target=use) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    winners = [x for x in results if isinstance(x, TokenPair)]
    assert len(winners) == 1
    assert all(isinstance(x, TokenPair | Unauthorized) or _retryable(x) for x in results)
    # Whatever the interleaving, a reuse was seen: nothing of the family works any more.
    for token in [pair.refresh_token, *(w.refresh_token for w in winners)]:
        with pytest.raises(Unauthorized):
            identity.refresh(token, pg, clock, SETTINGS)


def _retryable(error: object) -> bool:
    return isinstance(error, ServiceUnavailable)


def test_logout_revokes_every_token_of_the_family_in_the_database(pg):
    _, first = logged_in(pg)
    second = identity.refresh(first.refresh_token, pg, clock, SETTINGS)

    identity.logout(second.refresh_token, pg, clock)

    with pytest.raises(Unauthorized):
        identity.refresh(second.refresh_token, pg, clock, SETTINGS)


def test_audit_events_are_listed_per_tenant_newest_first_in_pages(uow):
    a, b = new_tenant(uow), new_tenant(uow)
    with uow() as u:
        for i in range(5):
            u.audit.add(
                AuditEvent(
                    id=uuid.uuid4(),
                    tenant_id=a,
                    kind=AuditKind.LOGIN_FAILED.value,
                    created_at=T0 + dt.timedelta(seconds=i),
                    detail={"email": "hostile'); DROP TABLE users; --", "n": i},
                )
            )
        u.audit.add(
            AuditEvent(id=uuid.uuid4(), tenant_id=b, kind=AuditKind.LOGOUT.value, created_at=T0)
        )
        u.commit()
    admin = Principal(tenant_id=a, role=Role.ADMIN)

    first = list_events(admin, uow, limit=3)
    second = list_events(admin, uow, cursor=first.next_cursor, limit=3)

    assert [e.detail["n"] for e in first.events + second.events] == [4, 3, 2, 1, 0]
    assert second.next_cursor is None
    assert {e.tenant_id for e in first.events + second.events} == {a}


def test_api_keys_are_listed_and_revoked_within_their_tenant(uow):
    a, b = new_tenant(uow), new_tenant(uow)
    admin_a = Principal(tenant_id=a, role=Role.ADMIN, user_id=uuid.uuid4())
    issued = create_key(admin_a, uow, clock, name="ci")

    assert [k.id for k in list_keys(admin_a, uow)] == [issued.key.id]
    assert list_keys(Principal(tenant_id=b, role=Role.ADMIN), uow) == []
    with pytest.raises(Exception, match="no API key"):
        revoke_key(Principal(tenant_id=b, role=Role.ADMIN), issued.key.id, uow, clock)

    revoked = revoke_key(admin_a, issued.key.id, uow, clock)
    again = revoke_key(admin_a, issued.key.id, uow, clock)

    assert revoked.revoked_at is not None
    assert again.revoked_at == revoked.revoked_at
    kinds = [e.kind for e in list_events(admin_a, uow).events]
    assert kinds == [AuditKind.API_KEY_REVOKED, AuditKind.API_KEY_CREATED]
