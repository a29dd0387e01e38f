"""Which secrets backend a process uses, and the checks made before Vault is asked."""

from __future__ import annotations

import pytest

from domain.adapters.secrets_wiring import API, check_database_url, with_secrets
from domain.secrets import SecretsUnavailable
from domain.settings import Settings, SettingsError


def test_the_env_backend_leaves_the_settings_as_they_are():
    settings = Settings(jwt_secret="j" * 40)
    assert with_secrets(settings, API) is settings


def test_an_unknown_backend_is_a_bad_setting():
    with pytest.raises(SettingsError, match="ROTA_SECRETS_BACKEND"):
        Settings.from_env({"ROTA_SECRETS_BACKEND": "files"})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "needs VAULT_ADDR"),
        ({"VAULT_ADDR": "http://127.0.0.1:8200"}, "needs VAULT_TOKEN, or VAULT_ROLE_ID"),
        (
            {"VAULT_ADDR": "http://127.0.0.1:8200", "VAULT_ROLE_ID": "r"},
            "needs VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID",
        ),
    ],
)
def test_the_vault_backend_names_what_it_lacks_before_calling_anyone(env, message):
    settings = Settings.from_env({"ROTA_SECRETS_BACKEND": "vault", **env})
    with pytest.raises(SecretsUnavailable, match=message):
        with_secrets(settings, API)


def test_with_vault_a_database_url_carrying_a_user_is_refused():
    settings = Settings.from_env(
        {"ROTA_SECRETS_BACKEND": "vault", "DATABASE_URL": "postgresql://app:pw@db/rota"}
    )
    with pytest.raises(SecretsUnavailable, match="names host, port and database only"):
        check_database_url(settings)


def test_with_vault_the_embedded_sqlite_database_is_refused():
    settings = Settings.from_env({"ROTA_SECRETS_BACKEND": "vault"})
    with pytest.raises(SecretsUnavailable, match="needs a PostgreSQL DATABASE_URL"):
        check_database_url(settings)


def test_with_vault_a_bare_postgres_url_is_accepted():
    settings = Settings.from_env(
        {"ROTA_SECRETS_BACKEND": "vault", "DATABASE_URL": "postgresql://db:5432/rota"}
    )
    check_database_url(settings)  # no user, no password: what Vault fills in
