"""Secrets and database users for each kind of process, from the configured backend.

With ROTA_SECRETS_BACKEND=env (the default) nothing changes: the secrets are the settings'
own. With `vault`, a process reads the secrets it needs from KV v2 into its Settings at
start-up (the API keeps watching its key rings: `watch_secrets`), and its engine connects as
users drawn from the database engine. Either answers, or the process refuses to start with
one line (`SecretsUnavailable`). One daemon thread per process (`Upkeep`) renews the token
and the lease and re-reads watched secrets.

One Vault session per process id: a forked child (a Celery pool process) logs in for itself,
because the parent's upkeep thread did not survive the fork and the parent's leases are its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.engine import URL, Engine, make_url

from domain import secrets as names
from domain.secrets import SecretName, SecretsUnavailable
from domain.settings import Settings

if TYPE_CHECKING:  # imported lazily: hvac stays out of env-backed processes
    from domain.adapters.vault.kv import VaultSecrets
    from domain.adapters.vault.leases import LeasedCredentials, Upkeep
    from domain.adapters.vault.session import VaultSession

log = logging.getLogger(__name__)

# What each kind of process reads (its Vault policy allows exactly these: ops/vault/).
API = (names.JWT, names.TOTP, names.WEBHOOKS, names.SENTRY, names.SMTP)
WORKER = (names.WEBHOOKS, names.SENTRY)
FLOWER = (names.FLOWER,)
ADMIN: tuple[SecretName, ...] = ()


@dataclass
class _Vault:
    session: VaultSession
    secrets: VaultSecrets
    upkeep: Upkeep | None = None  # started on first use (a database user, a watch)
    leases: LeasedCredentials | None = None  # of the app role


# (process id, Vault address, identity) -> its session.
_vaults: dict[tuple[int, str | None, str | None], _Vault] = {}


def _key(settings: Settings) -> tuple[int, str | None, str | None]:
    return os.getpid(), settings.vault_addr, settings.vault_role_id or settings.vault_token


def _vault(settings: Settings) -> _Vault:
    from domain.adapters.vault.kv import VaultSecrets
    from domain.adapters.vault.session import VaultSession

    vault = _vaults.get(_key(settings))
    if vault is None:
        session = VaultSession(settings)
        secrets = VaultSecrets(
            session,
            mount=settings.vault_kv_mount,
            prefix=settings.vault_kv_prefix,
            ttl_seconds=settings.vault_secrets_ttl_seconds,
        )
        vault = _vaults[_key(settings)] = _Vault(session, secrets)
    return vault


def with_secrets(settings: Settings, needs: tuple[SecretName, ...]) -> Settings:
    """`settings` with the secrets in `needs` filled in from the backend."""
    if not settings.uses_vault:
        return settings
    secrets = _vault(settings).secrets
    values = {}
    for name in needs:
        value = secrets.read(name)
        if value is not None:
            values[name.setting] = value
    return dataclasses.replace(settings, **values)


def watch_secrets(
    settings: Settings, needs: tuple[SecretName, ...], on_change: Callable[[Settings], None]
) -> None:
    """With Vault, read the secrets in `needs` again every ROTA_VAULT_SECRETS_TTL seconds (in
    the upkeep thread) and call `on_change` with the new settings when one changed: a key
    added or retired in Vault reaches this process without a restart. `settings`: as read from
    the environment. Nothing to watch with the env backend."""
    if not settings.uses_vault:
        return
    last = [with_secrets(settings, needs)]

    def check() -> float:
        current = with_secrets(settings, needs)  # the KV cache asks Vault once per TTL
        if current != last[0]:
            try:
                on_change(current)
            except Exception:  # a bad new key: keep the old ones, say so
                log.exception("new secrets from Vault refused; keeping the previous ones")
            else:
                log.info("secrets changed in Vault: applied")
            last[0] = current
        return settings.vault_secrets_ttl_seconds

    _upkeep(_vault(settings)).add(check)


def _upkeep(vault: _Vault) -> Upkeep:
    """The vault's upkeep thread (token renewal first), started on first use."""
    from domain.adapters.vault.leases import Upkeep

    if vault.upkeep is None:
        vault.upkeep = Upkeep([vault.session.upkeep])
        vault.upkeep.start()
    return vault.upkeep


def attach_database_credentials(engine: Engine, settings: Settings) -> None:
    """With Vault, make `engine` connect as users of the app role (renewed in the background);
    with the env backend the URL's own user is used and nothing is done."""
    if not settings.uses_vault or engine.url.get_backend_name() != "postgresql":
        return
    from domain.adapters.vault.engine_credentials import use_leased_credentials

    use_leased_credentials(engine, _app_leases(settings))


def _app_leases(settings: Settings) -> LeasedCredentials:
    from domain.adapters.vault.leases import LeasedCredentials, VaultDatabaseCredentials

    vault = _vault(settings)
    if vault.leases is None:
        source = VaultDatabaseCredentials(
            vault.session, mount=settings.vault_db_mount, role=settings.vault_db_role
        )
        leases = LeasedCredentials(source)
        session = vault.session
        # A new token means the old one's leases die with it: change users now.
        session.on_relogin.append(lambda: leases.replace("new Vault token"))
        vault.leases = leases
        _upkeep(vault).add(leases.upkeep)
    return vault.leases


def release() -> None:
    """Process shutdown: stop the upkeep and revoke this process's database leases, so their
    users disappear now rather than at the lease's end (best effort)."""
    for key in [k for k in _vaults if k[0] == os.getpid()]:
        vault = _vaults.pop(key)
        if vault.upkeep is not None:
            vault.upkeep.stop()
        if vault.leases is not None:
            _revoke(vault.session, vault.leases.current()[0].lease_id)


@contextlib.contextmanager
def migration_url(settings: Settings) -> Iterator[str]:
    """The URL migrations connect with: with Vault, a user of the migrate role (it acts as
    the schema's owner; the app role has no DDL rights), revoked when the block ends; else
    the database URL as it is."""
    if not settings.uses_vault:
        yield settings.database_url
        return
    from domain.adapters.vault.leases import VaultDatabaseCredentials

    session = _vault(settings).session
    source = VaultDatabaseCredentials(
        session, mount=settings.vault_db_mount, role=settings.vault_migrate_role
    )
    user = source.issue()
    url: URL = make_url(settings.database_url).set(username=user.username, password=user.password)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        _revoke(session, user.lease_id)


def _revoke(session: VaultSession, lease_id: str) -> None:
    try:
        session.call("revoke lease", lambda: session.client.sys.revoke_lease(lease_id=lease_id))
    except SecretsUnavailable as error:
        log.warning("database lease left to expire: %s", error)


def check_database_url(settings: Settings) -> None:
    """With Vault the URL names host, port and database only; a user in it is a mistake."""
    if settings.uses_vault and not settings.is_sqlite:
        url = make_url(settings.database_url)
        if url.username or url.password:
            raise SecretsUnavailable(
                "with ROTA_SECRETS_BACKEND=vault, DATABASE_URL names host, port and database "
                "only: users come from Vault"
            )
        return
    if settings.uses_vault:
        raise SecretsUnavailable("ROTA_SECRETS_BACKEND=vault needs a PostgreSQL DATABASE_URL")


def refuse_to_start(error: SecretsUnavailable) -> SystemExit:
    """The exit of a process that cannot get its secrets: one line, no traceback."""
    return SystemExit(f"rota: cannot start: {error}")
