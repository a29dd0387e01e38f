"""Settings: defaults, environment overrides, and a clear failure on a bad value."""

from __future__ import annotations

import pytest

from domain.settings import Settings, SettingsError, get_settings


def test_defaults():
    settings = Settings.from_env({})
    assert (settings.solver_memory_limit_mib, settings.solver_workers) == (2048, 8)
    assert settings.max_time_limit_seconds == 30.0
    assert settings.database_url == "sqlite:///var/rota.db"
    assert settings.redis_url is None
    assert settings.broker_url is None


def test_environment_overrides():
    env = {
        "ROTA_SOLVER_MEMORY_MIB": "512",
        "ROTA_SOLVER_WORKERS": " 2 ",
        "ROTA_MAX_TIME_LIMIT": "12.5",
    }
    settings = Settings.from_env(env)
    assert (settings.solver_memory_limit_mib, settings.solver_workers) == (512, 2)
    assert settings.max_time_limit_seconds == 12.5


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("ROTA_SOLVER_MEMORY_MIB", "lots"),
        ("ROTA_SOLVER_MEMORY_MIB", "-1"),
        ("ROTA_SOLVER_WORKERS", "0"),
        ("ROTA_SOLVER_WORKERS", "2.5"),
        ("ROTA_MAX_TIME_LIMIT", "0"),
        ("ROTA_MAX_TIME_LIMIT", "inf"),
        ("ROTA_MAX_TIME_LIMIT", "nan"),
    ],
)
def test_bad_value_names_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_get_settings_reads_the_environment_once(monkeypatch):
    get_settings.cache_clear()
    try:
        monkeypatch.setenv("ROTA_SOLVER_WORKERS", "3")
        assert get_settings().solver_workers == 3
        monkeypatch.setenv("ROTA_SOLVER_WORKERS", "5")
        assert get_settings().solver_workers == 3
    finally:
        get_settings.cache_clear()


def test_platform_settings_from_the_environment(tmp_path):
    env = {
        "ROTA_DATA_DIR": str(tmp_path),
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        "ROTA_DB_POOL_SIZE": "4",
        "ROTA_CACHE_TTL": "60",
        "ROTA_FLOWER_BASIC_AUTH": "ops:correct-horse-battery",
    }
    settings = Settings.from_env(env)
    assert settings.database_url == f"sqlite:///{tmp_path / 'rota.db'}"
    assert settings.broker_url == settings.redis_url == "redis://127.0.0.1:6379/3"
    assert (settings.db_pool_size, settings.cache_ttl_seconds) == (4, 60)
    assert settings.flower_basic_auth == "ops:correct-horse-battery"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_URL", "mysql://root@localhost/rota"),
        ("REDIS_URL", "http://localhost:6379"),
        ("ROTA_API_PORT", "70000"),
        ("ROTA_FLOWER_BASIC_AUTH", "admin:short"),
        ("ROTA_FLOWER_BASIC_AUTH", "no-colon-at-all"),
        ("ROTA_FLOWER_BASIC_AUTH", "ops:long-enough,password"),
        ("ROTA_WEBHOOK_ALLOW_NETWORKS", "127.0.0.0/8,not-a-net"),
        ("ROTA_LOG_FORMAT", "xml"),
        ("SENTRY_DSN", "ftp://key@host/1"),
        ("ROTA_RATE_LIMIT_API", "100/fortnight"),
        ("ROTA_RATE_LIMIT_AUTH", "zero/minute"),
        ("ROTA_CORS_ORIGINS", "*"),
        ("ROTA_JWT_SECRET", "too-short"),
    ],
)
def test_bad_platform_value_names_the_variable(name, value):
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_processes_that_need_redis_say_how_to_get_one():
    with pytest.raises(SettingsError, match="rota dev up"):
        Settings.from_env({}).require_redis_url()


def test_webhook_networks_are_normalised_cidrs():
    env = {"ROTA_WEBHOOK_ALLOW_NETWORKS": " 127.0.0.1/8 , ::1/128"}
    assert Settings.from_env(env).webhook_allow_networks == ("127.0.0.0/8", "::1/128")


def test_rates_and_origins_are_parsed():
    env = {
        "ROTA_RATE_LIMIT_SUBMIT": "3/second",
        "ROTA_CORS_ORIGINS": "https://a.example/, http://b:3000",
    }
    settings = Settings.from_env(env)
    assert settings.rate_limit_submit == (3, 1)
    assert settings.rate_limit_auth == (5, 60)
    assert settings.cors_origins == ("https://a.example", "http://b:3000")
