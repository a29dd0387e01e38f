"""Settings: defaults, environment overrides, and a clear failure on a bad value."""

from __future__ import annotations

import pytest

from domain.settings import Settings, SettingsError, get_settings


def test_defaults():
    assert Settings.from_env({}) == Settings(
        solver_memory_limit_mib=2048, solver_workers=8, max_time_limit_seconds=30.0
    )


def test_environment_overrides():
    env = {
        "ROTA_SOLVER_MEMORY_MIB": "512",
        "ROTA_SOLVER_WORKERS": " 2 ",
        "ROTA_MAX_TIME_LIMIT": "12.5",
    }
    assert Settings.from_env(env) == Settings(512, 2, 12.5)


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
