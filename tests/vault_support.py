"""A real OpenBao dev server prepared by `rota admin vault-bootstrap` for one test database.

Each `vaulted_database()` gets its own server (the policies and AppRole names are fixed, so
two databases on one server would overwrite each other's roles), its own database and its
own PostgreSQL group roles; everything is removed at the end, generated users included.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hvac
import psycopg
from psycopg import sql
from sqlalchemy.engine import URL, make_url

from domain.adapters.vault.bootstrap import BootstrapConfig, bootstrap
from tests import harness

ROOT = Path(__file__).resolve().parents[1]
ROTA = str(Path(sys.executable).parent / "rota")


@dataclass
class VaultedDatabase:
    bao: harness.Server
    name: str
    admin_url: str  # the postgres superuser on this database (test set-up only)
    groups: tuple[str, str]  # owner, app
    role_ids: dict[str, str]

    @property
    def url_without_user(self) -> str:
        url = make_url(self.admin_url)
        bare = URL.create(url.drivername, host=url.host, port=url.port, database=url.database)
        return bare.render_as_string(hide_password=False)

    def root(self) -> hvac.Client:
        return hvac.Client(url=self.bao.url, token=self.bao.token)

    def env(self, approle: str, **extra: str) -> dict[str, str]:
        """The environment of a production process logging in with AppRole `approle`."""
        secret_id = self.root().auth.approle.generate_secret_id(approle)["data"]["secret_id"]
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ROTA_", "VAULT_")) and k not in ("DATABASE_URL", "SENTRY_DSN")
        }
        env.update(
            ROTA_SECRETS_BACKEND="vault",
            ROTA_ENVIRONMENT="production",
            VAULT_ADDR=self.bao.url,
            VAULT_ROLE_ID=self.role_ids[approle],
            VAULT_SECRET_ID=secret_id,
            DATABASE_URL=self.url_without_user,
        )
        env.update(extra)
        return env

    def sessions(self) -> list[str]:
        """The users Rota's processes are connected as right now (application_name `rota`;
        Vault's own connection, as the admin user, is not one of them)."""
        with psycopg.connect(harness.libpq_url(self.admin_url), autocommit=True) as conn:
            rows = conn.execute(
                "SELECT usename FROM pg_stat_activity WHERE datname = %s AND pid <> "
                "pg_backend_pid() AND application_name = 'rota'",
                [self.name],
            ).fetchall()
        return [r[0] for r in rows]

    def app_leases(self) -> list[str]:
        """Lease ids of the users of the rota-app role that Vault has issued and not revoked."""
        root = self.root()
        try:
            keys = root.sys.list_leases("database/creds/rota-app")["data"]["keys"]
        except hvac.exceptions.InvalidPath:
            return []
        return [f"database/creds/rota-app/{k}" for k in keys]


@contextlib.contextmanager
def vaulted_database(
    postgres_admin_url: str, *, app_ttl: str = "1h", app_max_ttl: str = "24h"
) -> Iterator[VaultedDatabase]:
    suffix = f"{harness.worker_id()}_{os.getpid()}"
    name = f"rota_vault_{suffix}"
    groups = (f"rota_owner_{suffix}", f"rota_app_{suffix}")
    bao = harness.start_openbao()
    admin_url = harness.create_database(postgres_admin_url, name)
    try:
        report = bootstrap(
            BootstrapConfig(
                vault_addr=bao.url,
                vault_token=bao.token,
                database_admin_url=admin_url,
                owner_group=groups[0],
                app_group=groups[1],
                app_ttl=app_ttl,
                app_max_ttl=app_max_ttl,
            )
        )
        vaulted = VaultedDatabase(bao, name, admin_url, groups, report.role_ids)
        # The schema, built by a user of the migrate role (its AppRole and policy).
        migrated = subprocess.run(
            [ROTA, "admin", "migrate"],
            env=vaulted.env("rota-migrate"),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        assert migrated.returncode == 0, migrated.stderr
        yield vaulted
    finally:
        with contextlib.suppress(Exception):
            # Revoking drops every generated user (the roles' revocation statements).
            hvac.Client(url=bao.url, token=bao.token).sys.revoke_prefix("database/creds")
        bao.stop()
        harness.drop_database(postgres_admin_url, name)
        _drop_roles(postgres_admin_url, groups)


def _drop_roles(admin_url: str, groups: tuple[str, str]) -> None:
    with psycopg.connect(harness.libpq_url(admin_url), autocommit=True) as conn:
        members = conn.execute(
            "SELECT m.rolname FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid "
            "JOIN pg_roles m ON m.oid = a.member WHERE g.rolname = ANY(%s)",
            [list(groups)],
        ).fetchall()
        for role in [m[0] for m in members if m[0].startswith("v-")] + list(groups):
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                [role],
            )
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
