"""`rota admin vault-bootstrap`: prepare a Vault/OpenBao server and a PostgreSQL database for
Rota. Idempotent: run it again and it changes nothing that is already right, and it never
overwrites a secret that exists (rotating keys is an operator's decision, ops/vault/README.md).

In PostgreSQL it creates two group roles that own nothing but privileges:
- `<owner>` (NOLOGIN) owns the schema's tables; the migrate role's users act as it, so
  objects made by a migration belong to it, not to a user that Vault later drops;
- `<app>` (NOLOGIN) has DML on those tables (no DDL); the app role's users are its members.

In Vault: KV v2 and the database engine (mounted if absent), the connection to PostgreSQL
(with the admin user, whose password Vault can rotate), the roles rota-app and
rota-migrate, the policies of ops/vault/policies, AppRole roles for each process kind, and
the first keys of each application secret.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets as random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hvac
import psycopg
from psycopg import sql
from sqlalchemy.engine import make_url

from domain import secrets as names
from domain.adapters.db.engine import normalise_url
from domain.adapters.vault.policies import POLICIES, Layout, all_policies
from domain.adapters.vault.session import TIMEOUT_SECONDS, call

log = logging.getLogger(__name__)

# Leases of app users: renewed hourly, replaced daily. Migrations are short.
APP_TTL, APP_MAX_TTL = "1h", "24h"
MIGRATE_TTL, MIGRATE_MAX_TTL = "15m", "1h"
TOKEN_TTL, TOKEN_MAX_TTL = "1h", "24h"


@dataclass(frozen=True)
class BootstrapConfig:
    vault_addr: str
    vault_token: str
    # The admin connection to the database (CREATEROLE, or a superuser); Vault keeps it.
    database_admin_url: str
    # How Vault reaches the database, if not by the admin URL's host and port.
    vault_database_host: str | None = None
    owner_group: str = "rota_owner"
    app_group: str = "rota_app"
    layout: Layout = field(default_factory=Layout)
    app_ttl: str = APP_TTL
    app_max_ttl: str = APP_MAX_TTL
    vault_cacert: str | None = None


@dataclass
class BootstrapReport:
    changed: list[str] = field(default_factory=list)
    role_ids: dict[str, str] = field(default_factory=dict)


def bootstrap(config: BootstrapConfig) -> BootstrapReport:
    report = BootstrapReport()
    client = hvac.Client(
        url=config.vault_addr,
        token=config.vault_token,
        verify=config.vault_cacert or True,
        timeout=TIMEOUT_SECONDS,
    )

    def ask(what: str, fn: Callable[[], Any]) -> Any:
        return call(what, config.vault_addr, fn)

    _prepare_database(config, report)
    _mounts(client, config.layout, report, ask)
    _database_engine(client, config, report, ask)
    for name, hcl in all_policies(config.layout).items():
        ask(f"write policy {name}", lambda n=name, h=hcl: client.sys.create_or_update_policy(n, h))
    report.changed.append(f"policies {', '.join(POLICIES)} written")
    _approle(client, report, ask)
    _initial_secrets(client, config.layout, report, ask)
    return report


# --- PostgreSQL --------------------------------------------------------------------------------


def _prepare_database(config: BootstrapConfig, report: BootstrapReport) -> None:
    owner, app = sql.Identifier(config.owner_group), sql.Identifier(config.app_group)
    url = make_url(config.database_admin_url)
    with psycopg.connect(_libpq(config.database_admin_url), autocommit=True) as conn:
        for group in (config.owner_group, config.app_group):
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [group]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(sql.Identifier(group)))
                report.changed.append(f"database role {group} created")
        statements = [
            # Only the owner may create objects; PostgreSQL 15 already denies it to PUBLIC.
            "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
            "GRANT USAGE, CREATE ON SCHEMA public TO {owner}",
            "GRANT USAGE ON SCHEMA public TO {app}",
            "GRANT CONNECT ON DATABASE {db} TO {owner}, {app}",
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app}",
            "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
            " GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
            "ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA public"
            " GRANT USAGE, SELECT ON SEQUENCES TO {app}",
        ]
        db = sql.Identifier(url.database or "postgres")
        for statement in statements:
            conn.execute(sql.SQL(statement).format(owner=owner, app=app, db=db))


def _libpq(url: str) -> str:
    return normalise_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


# --- Vault ---------------------------------------------------------------------------------------


def _mounts(client: hvac.Client, layout: Layout, report: BootstrapReport, ask: Any) -> None:
    mounted = ask("list secrets engines", client.sys.list_mounted_secrets_engines)
    mounted = mounted.get("data", mounted)
    if f"{layout.kv_mount}/" not in mounted:
        ask(
            f"mount KV v2 at {layout.kv_mount}",
            lambda: client.sys.enable_secrets_engine(
                "kv", path=layout.kv_mount, options={"version": "2"}
            ),
        )
        report.changed.append(f"KV v2 mounted at {layout.kv_mount}/")
    elif mounted[f"{layout.kv_mount}/"].get("options", {}).get("version") != "2":
        raise SystemExit(f"rota: {layout.kv_mount}/ is mounted but is not KV version 2")
    if f"{layout.db_mount}/" not in mounted:
        ask(
            f"mount the database engine at {layout.db_mount}",
            lambda: client.sys.enable_secrets_engine("database", path=layout.db_mount),
        )
        report.changed.append(f"database engine mounted at {layout.db_mount}/")
    auths = ask("list auth methods", client.sys.list_auth_methods)
    if "approle/" not in auths.get("data", auths):
        ask("enable AppRole", lambda: client.sys.enable_auth_method("approle"))
        report.changed.append("AppRole auth enabled")


def _database_engine(
    client: hvac.Client, config: BootstrapConfig, report: BootstrapReport, ask: Any
) -> None:
    layout = config.layout
    url = make_url(config.database_admin_url)
    host = config.vault_database_host or f"{url.host or '127.0.0.1'}:{url.port or 5432}"
    options: dict[str, Any] = {
        "connection_url": f"postgresql://{{{{username}}}}:{{{{password}}}}@{host}/{url.database}",
        "username": url.username or "postgres",
    }
    if url.password:
        options["password"] = url.password
    ask(
        f"configure {layout.db_mount}/config/{layout.db_connection}",
        lambda: client.secrets.database.configure(
            name=layout.db_connection,
            plugin_name="postgresql-database-plugin",
            allowed_roles=[layout.app_role, layout.migrate_role],
            verify_connection=True,
            mount_point=layout.db_mount,
            **options,
        ),
    )
    # Revocation ends the user's sessions first: a revoked (leaked) user must stop now, and
    # DROP ROLE would otherwise leave its open connections working.
    revoke = [
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{{name}}';",
        'DROP ROLE IF EXISTS "{{name}}";',
    ]
    creation = (
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
        "VALID UNTIL '{{expiration}}' IN ROLE %s;"
    )
    app, owner = _quote(config.app_group), _quote(config.owner_group)
    roles = {
        layout.app_role: ([creation % app], config.app_ttl, config.app_max_ttl),
        layout.migrate_role: (
            # The migration's objects belong to the owner group, not to this passing user.
            [
                creation % owner,
                f'ALTER ROLE "{{{{name}}}}" SET role = {_literal(config.owner_group)};',
            ],
            MIGRATE_TTL,
            MIGRATE_MAX_TTL,
        ),
    }
    for role, (statements, ttl, max_ttl) in roles.items():
        ask(
            f"write database role {role}",
            lambda r=role, s=statements, t=ttl, m=max_ttl: client.secrets.database.create_role(
                name=r,
                db_name=layout.db_connection,
                creation_statements=s,
                revocation_statements=revoke,
                default_ttl=t,
                max_ttl=m,
                mount_point=layout.db_mount,
            ),
        )
    report.changed.append(f"database roles {layout.app_role}, {layout.migrate_role} written")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _literal(identifier: str) -> str:
    return "'" + identifier.replace("'", "''") + "'"


def _approle(client: hvac.Client, report: BootstrapReport, ask: Any) -> None:
    for name in POLICIES:
        ask(
            f"write AppRole {name}",
            lambda n=name: client.auth.approle.create_or_update_approle(
                role_name=n,
                token_policies=[n],
                token_ttl=TOKEN_TTL,
                token_max_ttl=TOKEN_MAX_TTL,
            ),
        )
        answer = ask(f"read AppRole {name}", lambda n=name: client.auth.approle.read_role_id(n))
        report.role_ids[name] = answer["data"]["role_id"]


def _initial_secrets(client: hvac.Client, layout: Layout, report: BootstrapReport, ask: Any):
    initial = {
        names.JWT: lambda: f"k1:{random.token_urlsafe(48)}",
        names.TOTP: lambda: f"k1:{base64.b64encode(os.urandom(32)).decode()}",
        names.WEBHOOKS: lambda: f"k1:{base64.b64encode(os.urandom(32)).decode()}",
        names.FLOWER: lambda: f"admin:{random.token_urlsafe(24)}",
    }
    for name, make in initial.items():
        path = f"{layout.kv_prefix}/{name.path}"

        def read(p: str = path) -> Any:
            try:
                return client.secrets.kv.v2.read_secret_version(
                    path=p, mount_point=layout.kv_mount, raise_on_deleted_version=True
                )
            except hvac.exceptions.InvalidPath:
                return None

        if ask(f"read {layout.kv_mount}/{path}", read) is not None:
            continue
        value = {name.field: make()}
        ask(
            f"write {layout.kv_mount}/{path}",
            lambda p=path, v=value: client.secrets.kv.v2.create_or_update_secret(
                path=p, secret=v, cas=0, mount_point=layout.kv_mount
            ),
        )
        report.changed.append(f"secret {layout.kv_mount}/{path} created")
