"""Where a process gets its secrets from: the port and its names (issue 6).

Two providers: the environment (the embedded default and the tests: the secrets are already in
`Settings`) and Vault/OpenBao (domain/adapters/vault/). A process asks once, at start-up,
through `domain/adapters/secrets_wiring.py`, and refuses to start when the provider cannot
answer: it never falls back to a generated or default secret.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class SecretsUnavailable(RuntimeError):
    """The provider cannot give what the process needs; the message is one line naming what
    is missing (the process prints it and exits)."""


@dataclass(frozen=True)
class SecretName:
    """One application secret: where it lives (`<prefix>/<path>` in KV v2, field `field`) and
    which setting it fills. Key rings are `kid:SECRET[,kid:SECRET...]`: the first key signs or
    encrypts, the others only verify or decrypt until they are retired."""

    path: str
    field: str
    setting: str
    optional: bool = False


JWT = SecretName("jwt", "keys", "jwt_secret")
TOTP = SecretName("totp", "keys", "totp_encryption_key")
WEBHOOKS = SecretName("webhooks", "keys", "webhook_encryption_key")
FLOWER = SecretName("flower", "basic_auth", "flower_basic_auth")
# No DSN: no Sentry. No password: SMTP without login.
SENTRY = SecretName("sentry", "dsn", "sentry_dsn", optional=True)
SMTP = SecretName("smtp", "password", "smtp_password", optional=True)
ALL = (JWT, TOTP, WEBHOOKS, FLOWER, SENTRY, SMTP)


class SecretsProvider(Protocol):
    def read(self, name: SecretName) -> str | None:
        """The secret's value; None when an optional secret is absent; SecretsUnavailable
        when a required one is, or when the provider cannot be asked."""


@dataclass(frozen=True)
class DatabaseCredentials:
    """A database user issued for a while (a lease), renewable up to the lease's max TTL."""

    username: str
    password: str
    lease_id: str
    lease_seconds: int
    renewable: bool


class DatabaseCredentialsSource(Protocol):
    """Issues and renews database users (Vault's database secrets engine)."""

    def issue(self) -> DatabaseCredentials:
        """A new user; SecretsUnavailable when none can be issued."""

    def renew(self, lease_id: str, increment_seconds: int) -> int:
        """Extend the lease; the seconds it has left after renewal (fewer than asked when its
        max TTL is near). SecretsUnavailable when the lease is gone (revoked, expired)."""
