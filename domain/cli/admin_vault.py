"""`rota admin vault-bootstrap | vault-policies | vault-rotate-root` (ops/vault/README.md).

They talk to Vault with an operator's token (VAULT_ADDR, VAULT_TOKEN), never with a
process's AppRole: preparing Vault and rotating its root credential are admin acts.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any, TextIO

from domain.cli.files import UsageError


def _vault_env() -> tuple[str, str]:
    addr, token = os.environ.get("VAULT_ADDR", ""), os.environ.get("VAULT_TOKEN", "")
    if not addr or not token:
        raise UsageError("set VAULT_ADDR and VAULT_TOKEN (an operator's token) first")
    return addr, token


def _layout(args: argparse.Namespace) -> Any:
    from domain.adapters.vault.policies import Layout

    return Layout(kv_mount=args.kv_mount, kv_prefix=args.kv_prefix, db_mount=args.db_mount)


def cmd_vault_bootstrap(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from domain.adapters.vault.bootstrap import BootstrapConfig, bootstrap

    addr, token = _vault_env()
    report = bootstrap(
        BootstrapConfig(
            vault_addr=addr,
            vault_token=token,
            database_admin_url=args.database_url,
            vault_database_host=args.vault_database_host,
            owner_group=args.owner_group,
            app_group=args.app_group,
            layout=_layout(args),
            vault_cacert=os.environ.get("VAULT_CACERT") or None,
        )
    )
    for line in report.changed:
        print(f"- {line}", file=out)
    print(
        "AppRole role ids (secret ids: `bao write -f auth/approle/role/NAME/secret-id`):", file=out
    )
    for name, role_id in report.role_ids.items():
        print(f"  {name}: {role_id}", file=out)
    return 0


def cmd_vault_policies(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from domain.adapters.vault.policies import all_policies

    args.directory.mkdir(parents=True, exist_ok=True)
    for name, hcl in all_policies(_layout(args)).items():
        path = args.directory / f"{name}.hcl"
        path.write_text(hcl, encoding="utf-8")
        print(path, file=out)
    return 0


def cmd_vault_rotate_root(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import hvac

    from domain.adapters.vault.session import TIMEOUT_SECONDS, call

    addr, token = _vault_env()
    client = hvac.Client(url=addr, token=token, timeout=TIMEOUT_SECONDS)
    layout = _layout(args)
    call(
        f"rotate the root credential of {layout.db_mount}/config/{layout.db_connection}",
        addr,
        lambda: client.secrets.database.rotate_root_credentials(
            name=layout.db_connection, mount_point=layout.db_mount
        ),
    )
    print(
        f"rotated: only Vault knows the password of {layout.db_mount}/{layout.db_connection}'s"
        " admin user now",
        file=out,
    )
    return 0


def _layout_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kv-mount", default="secret", metavar="PATH")
    parser.add_argument("--kv-prefix", default="rota", metavar="PATH")
    parser.add_argument("--db-mount", default="database", metavar="PATH")


def register(admin: Any) -> None:
    """Add the vault-* actions to `rota admin`'s sub-parsers."""
    a = admin.add_parser(
        "vault-bootstrap",
        help="prepare Vault/OpenBao and PostgreSQL for Rota (idempotent)",
        description="Mount KV v2 and the database engine, create the PostgreSQL group roles, "
        "the database roles rota-app and rota-migrate, the policies, the AppRole roles and the "
        "first application secrets (never overwritten). Uses VAULT_ADDR and VAULT_TOKEN.",
    )
    a.add_argument(
        "--database-url",
        required=True,
        metavar="URL",
        help="admin connection to the database (a superuser, or CREATEROLE); Vault keeps it",
    )
    a.add_argument("--vault-database-host", metavar="HOST:PORT", help="how Vault reaches it")
    a.add_argument("--owner-group", default="rota_owner", metavar="ROLE")
    a.add_argument("--app-group", default="rota_app", metavar="ROLE")
    _layout_arguments(a)
    a.set_defaults(handler=cmd_vault_bootstrap)

    a = admin.add_parser(
        "vault-policies",
        help="write the Vault policies of Rota's processes as HCL files",
        description="Write rota-api.hcl, rota-worker.hcl, rota-flower.hcl, rota-migrate.hcl.",
    )
    a.add_argument("directory", type=Path, metavar="DIR")
    _layout_arguments(a)
    a.set_defaults(handler=cmd_vault_policies)

    a = admin.add_parser(
        "vault-rotate-root",
        help="rotate the password of the database admin user Vault connects with",
        description="Run every 30 days (ops/vault/rota-rotate-root.timer). Uses VAULT_ADDR "
        "and VAULT_TOKEN.",
    )
    _layout_arguments(a)
    a.set_defaults(handler=cmd_vault_rotate_root)
