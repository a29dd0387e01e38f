"""End to end with Vault: the API and a worker log in to a real OpenBao server with their
AppRoles, read their secrets from KV and connect to PostgreSQL as users the database engine
issued; a job runs through; revoking those users costs only the requests in flight (issue 6)."""

from __future__ import annotations

import threading
import time

import httpx
import jwt
import msgspec
import pytest

from domain.adapters.db.engine import make_engine
from domain.adapters.db.uow import sql_uow_factory
from domain.formats.curtois import load_problem_file
from domain.services.identity import NewUser, create_user
from domain.settings import Settings
from domain.tenancy import Role
from tests.benchmark_data import curtois_instance
from tests.e2e.stack import Stack, utc_now
from tests.vault_support import vaulted_database

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("vault")]


@pytest.fixture(scope="module")
def vaulted(postgres_admin_url):
    with vaulted_database(postgres_admin_url) as vaulted:
        yield vaulted


@pytest.fixture(scope="module")
def stack(vaulted, redis_url, tmp_path_factory):
    # api_key() writes tenants with the admin URL (test set-up); the processes get none.
    stack = Stack(vaulted.admin_url, redis_url, tmp_path_factory.mktemp("vault-stack"))
    try:
        # Secrets re-read every second, so a key rotation shows within the test.
        api_env = vaulted.env(
            "rota-api",
            REDIS_URL=redis_url,
            ROTA_VAULT_SECRETS_TTL="1",
            ROTA_RATE_LIMIT_AUTH="1000/minute",
        )
        stack.start_api(api_env)
        stack.start_worker(vaulted.env("rota-worker", REDIS_URL=redis_url))
        yield stack
    finally:
        stack.stop()


def instance1() -> bytes:
    problem = load_problem_file(curtois_instance(1))
    options = msgspec.structs.replace(problem.options, time_limit_seconds=5.0, use_cache=False)
    return msgspec.json.encode(msgspec.structs.replace(problem, options=options))


def test_a_job_runs_end_to_end_on_database_users_issued_by_vault(vaulted, stack):
    with stack.client(stack.api_key("acme")) as client:
        response = client.post(
            "/v1/jobs", content=instance1(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 202, response.text
        job = stack.wait_finished(client, response.json()["id"])
        assert job["status"] == "succeeded", job

    users = set(vaulted.sessions())
    # The API's and the worker's pools: only users Vault generated, of the app role.
    assert users, "no connection to the database"
    assert all(u.startswith("v-approle-rota-app-") for u in users), users
    assert len(users) >= 2  # at least one for the API, one for the worker's pool process


def test_revoking_the_database_users_costs_only_the_requests_in_flight(vaulted, stack):
    key = stack.api_key("acme")
    before = set(vaulted.sessions())
    outcomes: list[tuple[float, int]] = []
    stop = threading.Event()

    def poll() -> None:
        with stack.client(key) as client:
            while not stop.is_set():
                try:
                    status = client.get("/v1/jobs", params={"limit": 5}).status_code
                except httpx.HTTPError:
                    status = 0
                outcomes.append((time.monotonic(), status))

    threads = [threading.Thread(target=poll) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(2.0)
    revoked_at = time.monotonic()
    root = vaulted.root()
    for lease_id in vaulted.app_leases():  # every app user: the API's and the worker's
        root.sys.revoke_lease(lease_id)
    time.sleep(4.0)
    stop.set()
    for t in threads:
        t.join()

    failed = [at for at, status in outcomes if status != 200]
    late = [status for at, status in outcomes if at > revoked_at + 1.0]
    print(f"revoked every app user: {len(failed)} of {len(outcomes)} requests failed")
    assert len(failed) <= len(threads)  # at most one per client: those in flight
    assert late
    assert all(status == 200 for status in late)
    after = set(vaulted.sessions())
    assert after
    assert not (after & before)
    # And the worker still works on its new user.
    with stack.client(key) as client:
        response = client.post(
            "/v1/jobs", content=instance1(), headers={"Content-Type": "application/json"}
        )
        assert stack.wait_finished(client, response.json()["id"])["status"] == "succeeded"


def test_a_jwt_key_rotated_in_vault_reaches_the_running_api_without_a_restart(vaulted, stack):
    stack.api_key("acme")  # makes the tenant
    engine = make_engine(Settings(), url=vaulted.admin_url)
    try:
        password = "a long and unusual phrase"
        create_user(
            NewUser("acme", "rotation@example.com", password, Role.PLANNER),
            sql_uow_factory(engine),
            utc_now,
        )
    finally:
        engine.dispose()
    kv = vaulted.root().secrets.kv.v2
    old = kv.read_secret_version(path="rota/jwt", raise_on_deleted_version=True)["data"]["data"]

    def login() -> str:
        answer = httpx.post(
            f"{stack.url}/v1/auth/login",
            json={"email": "rotation@example.com", "password": password},
        )
        assert answer.status_code == 200, answer.text
        return answer.json()["access_token"]

    def jobs_status(token: str) -> int:
        return httpx.get(
            f"{stack.url}/v1/jobs", headers={"Authorization": f"Bearer {token}"}
        ).status_code

    first = login()
    assert jwt.get_unverified_header(first)["kid"] == "k1"
    try:
        kv.create_or_update_secret(path="rota/jwt", secret={"keys": f"k2:{'r' * 48},{old['keys']}"})
        time.sleep(3)  # TTL 1 s, then the upkeep thread applies it
        second = login()
        assert jwt.get_unverified_header(second)["kid"] == "k2"
        assert jobs_status(first) == 200  # k1 still verifies

        kv.create_or_update_secret(path="rota/jwt", secret={"keys": f"k2:{'r' * 48}"})
        time.sleep(3)
        assert jobs_status(first) == 401  # k1 retired
        assert jobs_status(second) == 200
    finally:
        kv.create_or_update_secret(path="rota/jwt", secret=old)
