"""The Vault policies of Rota's processes (least privilege), as HCL.

`rota admin vault-bootstrap` writes them; `rota admin vault-policies DIR` prints them to files,
and ops/vault/policies/ holds them as generated for the default mounts (a unit test keeps
those files equal to this module).
"""

from __future__ import annotations

from dataclasses import dataclass

from domain import secrets as names
from domain.secrets import SecretName


@dataclass(frozen=True)
class Layout:
    """Where Rota's things live in Vault."""

    kv_mount: str = "secret"
    kv_prefix: str = "rota"
    db_mount: str = "database"
    db_connection: str = "rota"
    app_role: str = "rota-app"
    migrate_role: str = "rota-migrate"

    def kv_data(self, name: SecretName) -> str:
        return f"{self.kv_mount}/data/{self.kv_prefix}/{name.path}"


# policy name -> (the secrets it reads, the database role it draws users from)
POLICIES: dict[str, tuple[tuple[SecretName, ...], str | None]] = {
    "rota-api": ((names.JWT, names.TOTP, names.WEBHOOKS, names.SENTRY, names.SMTP), "app"),
    "rota-worker": ((names.WEBHOOKS, names.SENTRY), "app"),
    "rota-flower": ((names.FLOWER,), None),
    "rota-migrate": ((), "migrate"),
}

_COMMON = """
# Keep the token and the leases this process holds alive.
path "auth/token/renew-self" { capabilities = ["update"] }
path "auth/token/lookup-self" { capabilities = ["read"] }
path "sys/leases/renew" { capabilities = ["update"] }
path "sys/leases/revoke" { capabilities = ["update"] }
"""


def policy(name: str, layout: Layout) -> str:
    """The HCL of policy `name` (a key of POLICIES)."""
    secrets, db = POLICIES[name]
    lines = [f"# {name}: written by `rota admin vault-bootstrap` (ops/vault/README.md)."]
    for secret in secrets:
        lines.append(f'path "{layout.kv_data(secret)}" {{ capabilities = ["read"] }}')
    if db is not None:
        role = layout.app_role if db == "app" else layout.migrate_role
        lines.append(f'path "{layout.db_mount}/creds/{role}" {{ capabilities = ["read"] }}')
    return "\n".join(lines) + "\n" + _COMMON


def all_policies(layout: Layout) -> dict[str, str]:
    return {name: policy(name, layout) for name in POLICIES}
