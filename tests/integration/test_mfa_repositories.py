"""MFA storage on a real database (PostgreSQL and SQLite) and single use under concurrency on
PostgreSQL: of two simultaneous verifications of one TOTP code, exactly one wins."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from domain.adapters.db import migrate, sql_uow_factory
from domain.adapters.db.engine import make_engine
from domain.adapters.db.mfa import SqlMfa
from domain.errors import TooManyAttempts, Unauthorized
from domain.identity import AuditKind, User
from domain.mfa import totp
from domain.mfa.keyring import Keyring, new_key_spec
from domain.mfa.policy import Proof
from domain.ports import UnitOfWorkFactory
from domain.services import mfa as service
from domain.services.audit import list_events
from domain.services.identity import TokenPair
from domain.services.mfa_email import send_email_code
from domain.settings import Settings
from domain.tenancy import Principal, Role
from tests.integration import records as r
from tests.mfa_fakes import FakeMailer

pytestmark = pytest.mark.integration

T0 = r.T0
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


def add_user(uow: UnitOfWorkFactory, role: Role = Role.PLANNER, tenant_id=None) -> User:
    if tenant_id is None:
        tenant = r.tenant()
        with uow() as u:
            u.tenants.add(tenant)
            u.commit()
        tenant_id = tenant.id
    user = User(
        id=uuid.uuid4(),
        tenant_id=tenant_id,
        email=f"{uuid.uuid4().hex[:10]}@example.com",
        password_hash="not used here",
        role=role,
        created_at=T0,
    )
    with uow() as u:
        u.users.add(user)
        u.commit()
    return user


def test_a_time_step_is_claimed_once_and_only_forward(uow):
    user = add_user(uow)
    with uow() as u:
        first = u.mfa.claim_totp_step(user.id, 100)
        same = u.mfa.claim_totp_step(user.id, 100)
        older = u.mfa.claim_totp_step(user.id, 99)
        newer = u.mfa.claim_totp_step(user.id, 101)
        u.commit()

    assert (first, same, older, newer) == (True, False, False, True)
    with uow() as u:
        assert u.users.get(user.id).totp_last_step == 101


def test_a_backup_code_is_used_once(uow):
    user = add_user(uow)
    with uow() as u:
        u.mfa.replace_backup_codes(user.id, ["k1$a", "k1$b"])
        u.commit()
    with uow() as u:
        used = u.mfa.use_backup_code(user.id, ["k0$x", "k1$a"], T0)
        again = u.mfa.use_backup_code(user.id, ["k1$a"], T0)
        left = u.mfa.backup_codes_left(user.id)
        u.commit()

    assert (used, again, left) == (True, False, 1)


def test_an_emailed_code_is_used_once_and_not_after_it_expires(uow):
    user = add_user(uow)
    expires = T0 + dt.timedelta(minutes=10)
    with uow() as u:
        u.mfa.add_email_code(user.id, "k1$one", created_at=T0, expires_at=expires)
        u.mfa.add_email_code(user.id, "k1$two", created_at=T0, expires_at=expires)
        u.commit()
    with uow() as u:
        expired = u.mfa.use_email_code(user.id, ["k1$one"], expires)
        used = u.mfa.use_email_code(user.id, ["k1$one"], expires - dt.timedelta(seconds=1))
        again = u.mfa.use_email_code(user.id, ["k1$one"], T0)
        sent = u.mfa.email_codes_sent_since(user.id, T0 - dt.timedelta(minutes=15))
        u.commit()

    assert (expired, used, again) == (False, True, False)
    assert len(sent) == 2


def test_enable_disable_and_the_enrollment_count(uow):
    admin = add_user(uow, Role.ADMIN)
    add_user(uow, Role.PLANNER, tenant_id=admin.tenant_id)
    with uow() as u:
        u.mfa.set_totp_secret(admin.id, "v1:k1:secret")
        u.mfa.enable(admin.id, when=T0, step=7)
        u.mfa.replace_backup_codes(admin.id, ["k1$a"])
        u.commit()
    with uow(read_only=True) as u:
        count = u.mfa.enrollment(admin.tenant_id)
        stored = u.users.get(admin.id)
    assert (count.users, count.enrolled, count.admins, count.admins_enrolled) == (2, 1, 1, 1)
    assert (stored.mfa_enabled, stored.totp_last_step, stored.mfa_enrolled_at) == (True, 7, T0)

    with uow() as u:
        u.mfa.disable(admin.id)
        u.commit()
    with uow(read_only=True) as u:
        stored = u.users.get(admin.id)
        left = u.mfa.backup_codes_left(admin.id)
    assert (stored.mfa_enabled, stored.totp_secret_encrypted, left) == (False, None, 0)


def test_the_enrollment_of_every_tenant_in_one_query(uow):
    one, two = r.tenant(), r.tenant()
    with uow() as u:
        u.tenants.add(one)
        u.tenants.add(two)
        u.commit()
    admin = add_user(uow, Role.ADMIN, tenant_id=one.id)
    add_user(uow, Role.PLANNER, tenant_id=one.id)
    add_user(uow, Role.SERVICE, tenant_id=one.id)  # service keys do not count
    add_user(uow, Role.VIEWER, tenant_id=two.id)
    with uow() as u:
        u.mfa.set_totp_secret(admin.id, "v1:k1:secret")
        u.mfa.enable(admin.id, when=T0, step=7)
        u.commit()
    with uow(read_only=True) as u:
        counts = u.mfa.enrollment_by_tenant()
    first, second = counts[one.name], counts[two.name]
    assert (first.users, first.enrolled, first.admins, first.admins_enrolled) == (2, 1, 1, 1)
    assert (second.users, second.enrolled) == (1, 0)


# --- concurrency (PostgreSQL) -------------------------------------------------------------------


def test_a_claim_waiting_on_an_uncommitted_one_loses(db_engine):
    """Whether B's UPDATE runs while A's transaction holds the row or after it committed, B
    must not claim the same step: PostgreSQL re-checks B's WHERE on the committed row."""
    user = add_user(sql_uow_factory(db_engine))
    results: dict[str, bool] = {}

    def claim_b() -> None:
        with db_engine.connect() as b, b.begin():
            results["b"] = SqlMfa(b).claim_totp_step(user.id, 500)

    with db_engine.connect() as a:
        transaction = a.begin()
        results["a"] = SqlMfa(a).claim_totp_step(user.id, 500)
        thread = threading.Thread(target=claim_b)
        thread.start()
        transaction.commit()
    thread.join(timeout=60)

    assert not thread.is_alive()
    assert results == {"a": True, "b": False}


def test_two_concurrent_verifications_of_one_code_exactly_one_wins(db_engine):
    uow = sql_uow_factory(db_engine)
    user = add_user(uow)
    clock = lambda: dt.datetime.now(dt.UTC)  # noqa: E731 (real time: real transactions)
    mfa = service.Mfa(uow, Keyring.from_spec(new_key_spec()), clock, SETTINGS)
    secret = service.setup_totp(mfa, user.id).secret
    # Enabled directly with no step used, so both threads race for the current step.
    with uow() as u:
        u.mfa.enable(user.id, when=clock(), step=0)
        u.commit()
    code = totp.code_at(secret, totp.time_step(clock()))
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def verify() -> None:
        barrier.wait()
        try:
            outcomes.append(
                service.verify_login(mfa, user.id, Proof(code=code), login=user.login_marker)
            )
        except Unauthorized as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=verify) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sum(isinstance(o, TokenPair) for o in outcomes) == 1
    assert outcomes.count("MFA_CODE_INVALID") == 1
    principal = Principal(tenant_id=user.tenant_id, role=Role.ADMIN, user_id=user.id)
    kinds = [e.kind for e in list_events(principal, uow, limit=50).events]
    assert kinds.count(AuditKind.MFA_REPLAY) == 1


def test_concurrent_email_sends_respect_the_limit_of_three(db_engine):
    uow = sql_uow_factory(db_engine)
    user = add_user(uow)
    now = dt.datetime.now(dt.UTC)
    with uow() as u:
        u.mfa.enable(user.id, when=now, step=0)
        for n in range(2):
            u.mfa.add_email_code(
                user.id, f"k1$old{n}", created_at=now, expires_at=now + dt.timedelta(minutes=10)
            )
        u.commit()
    mailer = FakeMailer()
    clock = lambda: dt.datetime.now(dt.UTC)  # noqa: E731
    mfa = service.Mfa(uow, Keyring.from_spec(new_key_spec()), clock, SETTINGS, mailer)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def send() -> None:
        barrier.wait()
        try:
            send_email_code(mfa, user.id, login=user.login_marker)
            outcomes.append("sent")
        except TooManyAttempts as error:
            outcomes.append(error.code)

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["MFA_EMAIL_LIMIT", "sent"]
    assert len(mailer.sent) == 1
