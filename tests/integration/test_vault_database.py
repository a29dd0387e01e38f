"""Dynamic PostgreSQL users from a real OpenBao server: least privilege, lease renewal,
replacement before the max TTL, and recovery from a revoked lease (issue 6).

The leases here are short (3 s, at most 12 s) so that renewal and replacement happen within
a test; production uses 1 h and 24 h (domain/adapters/vault/bootstrap.py).
"""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa
from sqlalchemy import exc

from domain.adapters.db.engine import make_engine
from domain.adapters.secrets_wiring import _app_leases, attach_database_credentials, release
from domain.settings import Settings
from tests.vault_support import vaulted_database

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("vault")]

TTL, MAX_TTL = 3, 12


@pytest.fixture(scope="module")
def vaulted(postgres_admin_url):
    with vaulted_database(postgres_admin_url, app_ttl=f"{TTL}s", app_max_ttl=f"{MAX_TTL}s") as v:
        yield v


@pytest.fixture
def engine(vaulted):
    settings = Settings.from_env(vaulted.env("rota-api"))
    engine = make_engine(settings)
    attach_database_credentials(engine, settings)
    yield engine
    engine.dispose()
    release()


def whoami(engine) -> str:
    with engine.connect() as conn:
        return conn.execute(sa.text("SELECT session_user")).scalar_one()


def role_exists(vaulted, name: str) -> bool:
    with sa.create_engine(
        vaulted.admin_url.replace("postgresql:", "postgresql+psycopg:")
    ).connect() as c:
        return (
            c.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).first()
            is not None
        )


def test_the_engine_connects_as_a_generated_user_with_dml_and_no_ddl(vaulted, engine):
    user = whoami(engine)

    assert user.startswith("v-")
    assert "rota-app" in user
    assert user in vaulted.sessions()  # pg_stat_activity shows the generated user
    with engine.begin() as conn:
        conn.execute(sa.text("SELECT count(*) FROM jobs")).scalar_one()
        conn.execute(sa.text("DELETE FROM outbox WHERE false"))
    with (
        pytest.raises(exc.ProgrammingError, match=r"permission denied|must be owner"),
        engine.begin() as conn,
    ):
        conn.execute(sa.text("CREATE TABLE intruder (id int)"))
    with pytest.raises(exc.ProgrammingError, match="must be owner"), engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE jobs"))


def test_the_lease_is_renewed_then_replaced_before_its_max_ttl(vaulted, engine):
    first = whoami(engine)
    leases = _app_leases(Settings.from_env(vaulted.env("rota-api")))

    # Past the lease's own TTL: renewed in the background, so Vault has not dropped the user.
    time.sleep(TTL * 2)
    engine.dispose()  # a new connection must log in again
    assert whoami(engine) == first
    assert role_exists(vaulted, first)
    assert leases.replacements == 0

    # Near the max TTL renewal grants less than asked: a new user takes over before the old
    # one expires, and pooled connections of the old one are replaced at checkout.
    deadline = time.monotonic() + MAX_TTL + 5
    while leases.replacements == 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert leases.replacements >= 1
    assert whoami(engine) != first
    time.sleep(2)
    assert not role_exists(vaulted, first)  # Vault revoked the old user at its max TTL


def test_a_revoked_lease_costs_only_the_queries_in_flight(vaulted, engine):
    root = vaulted.root()
    first = whoami(engine)
    leases = _app_leases(Settings.from_env(vaulted.env("rota-api")))
    lease_id = leases.current()[0].lease_id
    outcomes: list[tuple[float, bool]] = []
    stop = threading.Event()

    def client() -> None:
        while not stop.is_set():
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT pg_sleep(0.02)"))
                outcomes.append((time.monotonic(), True))
            except exc.DBAPIError:
                outcomes.append((time.monotonic(), False))

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    revoked_at = time.monotonic()
    root.sys.revoke_lease(lease_id)  # an operator revokes a leaked user
    time.sleep(2.0)
    stop.set()
    for t in threads:
        t.join()

    failed = [at for at, ok in outcomes if not ok]
    after = [ok for at, ok in outcomes if at > revoked_at + 0.5]
    print(f"revoked lease: {len(failed)} failed of {len(outcomes)} queries")
    assert len(failed) <= len(threads)  # at most the queries in flight at that moment
    assert after
    assert all(after)
    assert whoami(engine) != first
    assert not role_exists(vaulted, first)
