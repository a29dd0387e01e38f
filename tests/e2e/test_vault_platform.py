"""End to end with Vault: the API and a worker log in to a real OpenBao server with their
AppRoles, read their secrets from KV and connect to PostgreSQL as users the database engine
issued; a job runs through; revoking those users costs only the requests in flight (issue 6)."""

from __future__ import annotations

import threading
import time

import httpx
import msgspec
import pytest

from domain.formats.curtois import load_problem_file
from tests.benchmark_data import curtois_instance
from tests.e2e.stack import Stack
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
        stack.start_api(vaulted.env("rota-api", REDIS_URL=redis_url))
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
