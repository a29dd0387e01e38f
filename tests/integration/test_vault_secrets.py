"""Application secrets from a real OpenBao server (KV v2), through each process's AppRole and
policy; a process that cannot get them refuses to start with one line (issue 6)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid

import pytest

from domain.adapters.secrets_wiring import API, FLOWER, WORKER, with_secrets
from domain.adapters.vault.kv import VaultSecrets
from domain.adapters.vault.session import VaultSession
from domain.secrets import JWT, SecretsUnavailable
from domain.settings import Settings
from domain.tenancy import Role
from domain.tokens import issue_access_token, token_keys, verify_access_token
from tests import harness
from tests.vault_support import ROOT, vaulted_database

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("vault")]


@pytest.fixture(scope="module")
def vaulted(postgres_admin_url):
    with vaulted_database(postgres_admin_url) as vaulted:
        yield vaulted


def settings_of(env: dict[str, str]) -> Settings:
    return Settings.from_env(env)


def test_the_api_reads_its_secrets_from_kv_with_its_approle(vaulted):
    settings = with_secrets(settings_of(vaulted.env("rota-api")), API)
    kv = vaulted.root().secrets.kv.v2

    def stored(path, field):
        return kv.read_secret_version(path=f"rota/{path}", raise_on_deleted_version=True)["data"][
            "data"
        ][field]

    assert settings.jwt_secret == stored("jwt", "keys")
    assert settings.totp_encryption_key == stored("totp", "keys")
    assert settings.webhook_encryption_key == stored("webhooks", "keys")
    assert settings.flower_basic_auth is None  # not the API's to read
    token_keys(settings)  # usable as they are: bootstrap made valid keys


def test_each_process_reads_only_what_its_policy_allows(vaulted):
    worker = with_secrets(settings_of(vaulted.env("rota-worker")), WORKER)
    assert worker.webhook_encryption_key
    assert worker.jwt_secret is None
    with pytest.raises(SecretsUnavailable, match="permission denied"):
        with_secrets(settings_of(vaulted.env("rota-worker")), API)
    flower = with_secrets(settings_of(vaulted.env("rota-flower")), FLOWER)
    assert flower.flower_basic_auth
    assert flower.flower_basic_auth.startswith("admin:")


def root_env(vaulted, **extra: str) -> dict[str, str]:
    """A process logging in with the root token (sees every path: absent means absent)."""
    env = vaulted.env("rota-api", VAULT_TOKEN=vaulted.bao.token, **extra)
    del env["VAULT_ROLE_ID"], env["VAULT_SECRET_ID"]
    return env


def test_a_missing_secret_names_its_path(vaulted):
    session = VaultSession(settings_of(root_env(vaulted)))
    missing = VaultSecrets(session, mount="secret", prefix="nowhere")

    with pytest.raises(SecretsUnavailable) as error:
        missing.read(JWT)

    assert str(error.value).endswith("secret secret/nowhere/jwt does not exist")


def test_a_running_process_keeps_its_cached_secret_when_vault_fails_a_refresh(vaulted):
    now = [0.0]
    session = VaultSession(settings_of(vaulted.env("rota-api")))
    secrets = VaultSecrets(
        session, mount="secret", prefix="rota", ttl_seconds=10, clock=lambda: now[0]
    )
    first = secrets.read(JWT)
    session.client.token = "revoked"  # every call from now on is refused
    now[0] = 60.0

    assert secrets.read(JWT) == first


def start_api(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The API's factory as uvicorn calls it; it must exit, not serve."""
    code = "from api.app import create_app; create_app()"
    return subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def start_worker(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "--pool", "solo"]
    return subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


def assert_refused_with_one_line(result: subprocess.CompletedProcess[str], expected: str):
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("rota: cannot start: vault at "), result.stderr
    assert expected in lines[-1]
    assert "Traceback" not in result.stderr


def test_the_api_refuses_to_start_when_a_secret_is_missing(vaulted):
    env = root_env(vaulted, ROTA_VAULT_KV_PREFIX="absent", REDIS_URL="redis://127.0.0.1:1")
    assert_refused_with_one_line(start_api(env), "secret secret/absent/jwt does not exist")


def test_the_api_and_the_worker_refuse_to_start_when_vault_is_down(vaulted):
    env = vaulted.env("rota-api", REDIS_URL="redis://127.0.0.1:1")
    env["VAULT_ADDR"] = f"http://127.0.0.1:{harness.free_port()}"
    assert_refused_with_one_line(start_api(env), "unreachable")
    assert_refused_with_one_line(start_worker(env), "unreachable")


def test_a_sealed_vault_refuses_start_up():
    bao = harness.start_openbao()
    try:
        env = {"VAULT_ADDR": bao.url, "VAULT_TOKEN": bao.token, "ROTA_SECRETS_BACKEND": "vault"}
        import hvac

        hvac.Client(url=bao.url, token=bao.token).sys.seal()

        with pytest.raises(SecretsUnavailable, match="sealed"):
            with_secrets(settings_of(env), API)
    finally:
        bao.stop()


def test_a_token_of_the_retiring_jwt_key_verifies_until_the_key_is_removed(vaulted):
    kv = vaulted.root().secrets.kv.v2
    old = kv.read_secret_version(path="rota/jwt", raise_on_deleted_version=True)["data"]["data"]
    now = [0.0]
    secrets = VaultSecrets(
        VaultSession(settings_of(vaulted.env("rota-api"))),
        mount="secret",
        prefix="rota",
        ttl_seconds=300,
        clock=lambda: now[0],
    )

    def keys():
        return token_keys(Settings(jwt_secret=secrets.read(JWT), environment="production"))

    before = keys()
    token = issue_access_token(
        before,
        user_id=uuid.uuid4(),
        tenant_id=uuid.uuid4(),
        role=Role.VIEWER,
        now=dt.datetime.now(dt.UTC),
    )
    try:
        # Rotation, step 1: a new signing key k2, k1 kept for verification. Readers see it
        # once their cached copy is older than the TTL.
        kv.create_or_update_secret(path="rota/jwt", secret={"keys": f"k2:{'n' * 48},{old['keys']}"})
        assert keys().key_id == before.key_id == "k1"
        now[0] = 301.0
        rotated = keys()
        assert rotated.key_id == "k2"
        assert verify_access_token(rotated, token) is not None
        # Step 2, after the access-token lifetime: k1 retired.
        kv.create_or_update_secret(path="rota/jwt", secret={"keys": f"k2:{'n' * 48}"})
        now[0] = 602.0
        assert verify_access_token(keys(), token) is None
    finally:
        kv.create_or_update_secret(path="rota/jwt", secret=old)
