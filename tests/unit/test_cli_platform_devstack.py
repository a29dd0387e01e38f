"""`rota dev up` without starting the platform: the plan, the children's environment and
command lines, the banner, and the errors that must stop it before anything starts."""

from __future__ import annotations

import re
import socket

import pytest

from domain.cli import devstack
from domain.cli.files import UsageError
from domain.cli.main import main
from domain.settings import Settings, get_settings

KEY = "rota_" + "x" * 43


@pytest.fixture(autouse=True)
def _fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def test_no_database_or_redis_url_means_sqlite_and_an_embedded_redis_under_the_data_dir(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    stack = devstack.plan(Settings.from_env({"ROTA_DATA_DIR": "var"}))
    data = tmp_path / "var"
    assert stack.data_dir == data  # absolute: the children may run elsewhere
    assert stack.database_url == f"sqlite:///{data}/rota.db"
    assert stack.embedded_redis is not None
    assert stack.embedded_redis.directory == data / "redis"
    assert stack.redis_url == stack.broker_url == stack.embedded_redis.url
    assert stack.redis_url.startswith("redis://:")
    assert stack.redis_url.endswith(f"@127.0.0.1:{stack.embedded_redis.port}/0")
    assert stack.log_dir == data / "logs"
    user, _, password = stack.flower_auth.partition(":")
    assert user == "rota"
    assert len(password) >= 12
    assert stack.flower_auth_generated

    env = devstack.child_env(stack, {"PATH": "/bin", "DATABASE_URL": "ignored"})
    assert env["PATH"] == "/bin"
    assert env["DATABASE_URL"] == stack.database_url
    assert env["REDIS_URL"] == env["ROTA_BROKER_URL"] == stack.redis_url
    assert env["ROTA_DATA_DIR"] == str(data)
    assert env["ROTA_FLOWER_BASIC_AUTH"] == stack.flower_auth
    assert env["ROTA_API_PORT"] == "8000"
    # The children's own settings read back what dev up planned.
    assert Settings.from_env(env).redis_url == stack.redis_url


def test_configured_services_are_used_as_they_are():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://rota:pw@db/rota",
            "REDIS_URL": "redis://cache:6379/0",
            "ROTA_BROKER_URL": "redis://broker:6379/1",
            "ROTA_FLOWER_BASIC_AUTH": "ops:correct-horse-battery",
            "ROTA_API_PORT": "9000",
        }
    )
    stack = devstack.plan(settings)
    assert stack.embedded_redis is None
    assert stack.database_url == "postgresql://rota:pw@db/rota"
    assert stack.redis_url == "redis://cache:6379/0"
    assert stack.broker_url == "redis://broker:6379/1"
    assert stack.flower_auth == "ops:correct-horse-battery"
    assert not stack.flower_auth_generated
    assert devstack.api_argv(stack)[-4:] == ["--host", "127.0.0.1", "--port", "9000"]


def test_the_worker_is_one_prefork_process_on_both_queues():
    argv = devstack.worker_argv()
    assert argv[1:5] == ["-m", "celery", "-A", "workers.app"]
    assert {"worker", "--pool=prefork", "--concurrency=1", "--queues=solve,light"} <= set(argv)


def test_flower_comes_from_workers_flower_bound_to_localhost_behind_basic_auth(tmp_path):
    stack = devstack.plan(Settings.from_env({"ROTA_DATA_DIR": str(tmp_path)}))
    env = devstack.child_env(stack, {"PATH": "/usr/bin:/bin"})
    argv, flower_env = devstack.flower_argv_env(env)
    assert "flower" in argv
    assert "--address=127.0.0.1" in argv
    assert f"--port={stack.flower_port}" in argv
    assert flower_env["FLOWER_BASIC_AUTH"] == stack.flower_auth
    assert stack.flower_auth not in " ".join(argv)  # not visible in `ps`


def test_flower_credentials_that_flower_would_misread_stop_dev_up(tmp_path):
    stack = devstack.plan(Settings.from_env({"ROTA_DATA_DIR": str(tmp_path)}))
    env = devstack.child_env(stack, {"PATH": "/usr/bin:/bin"})
    env["ROTA_FLOWER_BASIC_AUTH"] = "ops:abcdefgh,ijklmnop"
    with pytest.raises(UsageError, match="comma"):
        devstack.flower_argv_env(env)


def test_the_banner_says_where_everything_is(tmp_path):
    stack = devstack.plan(Settings.from_env({"ROTA_DATA_DIR": str(tmp_path)}))
    text = devstack.banner(stack, KEY)
    assert "Rota is up" in text
    assert re.search(r"^  API key\s+(rota_\S+)$", text, re.M).group(1) == KEY
    assert "http://127.0.0.1:8000" in text
    user, _, password = stack.flower_auth.partition(":")
    assert f"user {user}  password {password}" in text
    assert f"{tmp_path}/logs/{{api,worker,flower,redis}}.log" in text
    assert f"export ROTA_API_URL=http://127.0.0.1:8000 ROTA_API_KEY={KEY}" in text
    assert f"curl -H 'Authorization: Bearer {KEY}'" in text
    assert stack.embedded_redis.password not in text


@pytest.fixture
def busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize("variable", ["ROTA_API_PORT", "ROTA_FLOWER_PORT"])
def test_a_port_in_use_is_one_line_and_nothing_starts(
    capsys, monkeypatch, tmp_path, busy_port, variable
):
    monkeypatch.setenv("ROTA_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv(variable, str(busy_port))
    code = main(["dev", "up"])
    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err == (
        f"rota: port {busy_port} on 127.0.0.1 (for "
        f"{'the API' if variable == 'ROTA_API_PORT' else 'Flower'}) is already in use: "
        f"stop what holds it or set {variable} to another port\n"
    )
    assert not (tmp_path / "var" / "rota.db").exists()


def test_the_api_and_flower_cannot_share_a_port(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("ROTA_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("ROTA_API_PORT", "18123")
    monkeypatch.setenv("ROTA_FLOWER_PORT", "18123")
    assert main(["dev", "up"]) == 2
    assert "cannot share port 18123" in capsys.readouterr().err
