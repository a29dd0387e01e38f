"""`rota admin unlock-user` on a temporary SQLite database (as test_cli_platform_admin.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from domain.adapters.db import make_engine, sql_uow_factory
from domain.cli.main import main
from domain.identity import User
from domain.lockout import LOCKED_FOR_GOOD
from domain.services.tenants import create_tenant
from domain.settings import get_settings
from domain.tenancy import Role


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("ROTA_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    get_settings.cache_clear()
    yield tmp_path / "var"
    get_settings.cache_clear()


def test_unlock_user_clears_the_lock_and_the_count(capsys):
    assert main(["admin", "migrate"]) == 0
    engine = make_engine(get_settings())
    uow = sql_uow_factory(engine)
    now = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    try:
        tenant = create_tenant("acme", uow, lambda: now)
        user = User(
            id=tenant.id,
            tenant_id=tenant.id,
            email="ann@example.com",
            password_hash="x",
            role=Role.ADMIN,
            created_at=now,
            failed_logins=100,
            locked_until=LOCKED_FOR_GOOD,
        )
        with uow() as u:
            u.users.add(user)
            u.commit()
        capsys.readouterr()

        code = main(["admin", "unlock-user", "--email", "Ann@Example.com"])

        out, _ = capsys.readouterr()
        with uow() as u:
            stored = u.users.get(user.id)
    finally:
        engine.dispose()
    assert code == 0
    assert out == "unlocked ann@example.com (100 consecutive failures cleared)\n"
    assert (stored.failed_logins, stored.locked_until) == (0, None)


def test_unlock_of_an_unknown_user_is_one_line_and_exit_2(capsys):
    assert main(["admin", "migrate"]) == 0
    capsys.readouterr()

    code = main(["admin", "unlock-user", "--email", "nobody@example.com"])

    _, err = capsys.readouterr()
    assert (code, err) == (2, "rota: no user with this email\n")
