"""Flower's launcher keeps the credentials out of argv and never starts Flower open."""

from __future__ import annotations

import pytest

from domain.settings import Settings, SettingsError
from workers.flower import flower_command

BROKER = "redis://127.0.0.1:6379/15"
AUTH = "ops:correct-horse-battery"


def settings(**changes) -> Settings:
    return Settings(redis_url=BROKER, broker_url=BROKER, flower_port=5599, **changes)


def test_credentials_go_through_the_environment_not_argv():
    argv, env = flower_command(settings(flower_basic_auth=AUTH))

    assert env["FLOWER_BASIC_AUTH"] == AUTH
    assert not any("correct-horse" in arg for arg in argv)


def test_flower_listens_on_localhost_on_the_configured_port():
    argv, _ = flower_command(settings(flower_basic_auth=AUTH))

    assert argv[argv.index("-A") + 1 :][:2] == ["workers.app", "flower"]
    assert "--address=127.0.0.1" in argv
    assert "--port=5599" in argv


def test_the_unauthenticated_api_switch_is_never_passed_on(monkeypatch):
    monkeypatch.setenv("FLOWER_UNAUTHENTICATED_API", "true")

    _, env = flower_command(settings(flower_basic_auth=AUTH))

    assert "FLOWER_UNAUTHENTICATED_API" not in env


def test_the_broker_of_the_settings_is_given_to_flower():
    _, env = flower_command(settings(flower_basic_auth=AUTH))

    assert env["ROTA_BROKER_URL"] == BROKER


def test_no_credentials_means_no_flower():
    with pytest.raises(SettingsError, match="ROTA_FLOWER_BASIC_AUTH"):
        flower_command(settings())


def test_a_comma_in_the_credentials_is_refused():
    # Flower would split it into two accepted credentials.
    with pytest.raises(SettingsError, match="comma"):
        flower_command(settings(flower_basic_auth="ops:correct,horse-battery"))
