"""`rota admin ...` on a temporary SQLite database (ROTA_DATA_DIR), and its error paths."""

from __future__ import annotations

import datetime as dt
import io
import socket

import pytest

from domain.adapters.db import make_engine, sql_uow_factory
from domain.cli.main import main
from domain.passwords import verify_password
from domain.services.tenants import authenticate_api_key
from domain.settings import get_settings
from domain.tenancy import Role


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ROTA_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def authenticate(secret: str):
    engine = make_engine(get_settings())
    try:
        now = lambda: dt.datetime.now(dt.UTC)  # noqa: E731
        return authenticate_api_key(secret, sql_uow_factory(engine), now)
    finally:
        engine.dispose()


def test_migrate_then_tenant_then_key(capsys, data_dir):
    code, out, _ = run(capsys, "admin", "migrate")
    assert code == 0
    assert out == f"database sqlite:///{data_dir}/rota.db: schema at the latest revision\n"
    assert (data_dir / "rota.db").is_file()
    assert run(capsys, "admin", "migrate")[0] == 0  # again: nothing to do

    code, out, _ = run(capsys, "admin", "create-tenant", "acme")
    assert code == 0
    assert out.startswith("created tenant 'acme' (id ")

    code, out, _ = run(
        capsys, "admin", "create-api-key", "--tenant", "acme", "--role", "planner", "--name", "ci"
    )
    assert code == 0
    secret = out.splitlines()[-1]
    assert secret.startswith("rota_")
    assert "role planner, name 'ci'" in out.splitlines()[0]
    principal = authenticate(secret)
    assert principal is not None
    assert principal.role is Role.PLANNER


def test_tenant_errors_are_one_line_and_exit_2(capsys):
    assert run(capsys, "admin", "migrate")[0] == 0
    assert run(capsys, "admin", "create-tenant", "acme")[0] == 0

    assert run(capsys, "admin", "create-tenant", "acme") == (
        2,
        "",
        "rota: tenant 'acme' already exists\n",
    )
    assert run(capsys, "admin", "create-api-key", "--tenant", "nobody") == (
        2,
        "",
        "rota: no tenant 'nobody'\n",
    )
    code, _, err = run(capsys, "admin", "create-tenant", " ")
    assert (code, err) == (2, "rota: a tenant name must have 1 to 100 characters\n")


def test_an_unknown_role_is_a_usage_error(capsys):
    code, _, err = run(capsys, "admin", "create-api-key", "--tenant", "acme", "--role", "boss")
    assert code == 2
    assert "unknown role 'boss' (choose admin, planner, viewer, service)" in err


def test_a_database_never_migrated_says_what_to_run(capsys, data_dir):
    code, _, err = run(capsys, "admin", "create-tenant", "acme")
    assert code == 2
    assert err == (
        f"rota: no database at {data_dir}/rota.db: run `rota admin migrate` "
        "(or `rota dev up`) first\n"
    )


def test_an_unreachable_database_is_one_line_without_the_password(capsys, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("DATABASE_URL", f"postgresql://rota:s3cret@127.0.0.1:{port}/rota")
    get_settings.cache_clear()
    for argv in (("admin", "migrate"), ("admin", "create-tenant", "acme")):
        code, out, err = run(capsys, *argv)
        assert code == 2
        assert out == ""
        assert err.count("\n") == 1
        assert err.startswith(
            f"rota: cannot use the database postgresql://rota:***@127.0.0.1:{port}"
        )
        assert "s3cret" not in err
        assert "Traceback" not in err


def test_create_user_reads_the_password_from_stdin_and_refuses_a_weak_one(
    capsys, monkeypatch, data_dir
):
    assert run(capsys, "admin", "migrate")[0] == 0
    assert run(capsys, "admin", "create-tenant", "acme")[0] == 0

    monkeypatch.setattr("sys.stdin", io.StringIO("password1234\n"))
    argv = ["admin", "create-user", "--tenant", "acme", "--email", "Ann@Example.com"]
    code, _, err = run(capsys, *argv, "--password-stdin", "--role", "admin")
    assert code == 2
    assert err == "rota: this password is too common: choose another\n"

    monkeypatch.setattr("sys.stdin", io.StringIO("a long and unusual phrase\n"))
    code, out, _ = run(capsys, *argv, "--password-stdin", "--role", "admin")
    assert code == 0
    assert out.startswith("created user ann@example.com (id ")
    engine = make_engine(get_settings())
    try:
        with sql_uow_factory(engine)() as uow:
            user = uow.users.get_by_email("ann@example.com")
    finally:
        engine.dispose()
    assert user.role is Role.ADMIN
    assert verify_password(user.password_hash, "a long and unusual phrase").ok

    monkeypatch.setattr("sys.stdin", io.StringIO("another long phrase\n"))
    code, _, err = run(capsys, *argv, "--password-stdin", "--role", "viewer")
    assert (code, err) == (2, "rota: a user with this email exists\n")
