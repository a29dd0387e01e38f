"""A logged-in hvac client: how a process authenticates to Vault/OpenBao and keeps its token.

Every hvac call goes through `call()`, which turns hvac's and requests' exceptions into one
`SecretsUnavailable` line naming the server and what was asked, so a process that cannot
start says why in a sentence, never with a traceback.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import hvac
import hvac.exceptions
import requests

from domain.secrets import SecretsUnavailable
from domain.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

# Seconds per HTTP call: a Vault that does not answer must not hang start-up.
TIMEOUT_SECONDS = 5.0
# A token (or a lease) is renewed when this fraction of its TTL has passed.
RENEW_AT_FRACTION = 2 / 3
# Wait before trying again after a failed renewal (Vault down for a moment).
RETRY_SECONDS = 30.0


def call(what: str, addr: str | None, fn: Callable[[], T]) -> T:
    """`fn()`, with any failure as SecretsUnavailable("vault at ADDR: WHAT: reason")."""
    try:
        return fn()
    except hvac.exceptions.InvalidPath:
        reason = "not found"
    except hvac.exceptions.Forbidden:
        reason = "permission denied (token or policy)"
    except hvac.exceptions.VaultDown:
        reason = "Vault is sealed or down"
    except hvac.exceptions.VaultError as error:
        reason = _first_line(str(error)) or type(error).__name__
    except requests.exceptions.RequestException as error:
        reason = f"unreachable ({type(error).__name__})"
    raise SecretsUnavailable(f"vault at {addr}: {what}: {reason}")


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


class VaultSession:
    """One authenticated client per process (never shared across a fork: see
    domain/adapters/secrets_wiring.py), with the upkeep of its token."""

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.monotonic):
        if not settings.vault_addr:
            raise SecretsUnavailable("ROTA_SECRETS_BACKEND=vault needs VAULT_ADDR")
        if not settings.vault_token and not (settings.vault_role_id and settings.vault_secret_id):
            raise SecretsUnavailable(
                "ROTA_SECRETS_BACKEND=vault needs VAULT_TOKEN, or VAULT_ROLE_ID and VAULT_SECRET_ID"
            )
        self.settings = settings
        self.addr = settings.vault_addr
        self._clock = clock
        self._lock = threading.Lock()
        self.client = hvac.Client(
            url=settings.vault_addr,
            verify=settings.vault_cacert or True,
            timeout=TIMEOUT_SECONDS,
        )
        # When the token must be renewed (None: it never expires, e.g. a root token).
        self._renew_at: float | None = None
        self._renewable = False
        # Called after a new login: leases of the old token die with it (their parent).
        self.on_relogin: list[Callable[[], None]] = []
        self._check_unsealed()
        self._login()

    def call(self, what: str, fn: Callable[[], T]) -> T:
        return call(what, self.addr, fn)

    def _check_unsealed(self) -> None:
        status = self.call(
            "health check",
            lambda: self.client.sys.read_health_status(
                method="GET", standby_ok=True, sealed_code=200, uninit_code=200
            ),
        )
        if isinstance(status, dict):
            if not status.get("initialized", True):
                raise SecretsUnavailable(f"vault at {self.addr}: not initialised")
            if status.get("sealed"):
                raise SecretsUnavailable(f"vault at {self.addr}: sealed")

    def _login(self) -> None:
        settings = self.settings
        if settings.vault_role_id and settings.vault_secret_id:
            answer = self.call(
                "AppRole login",
                lambda: self.client.auth.approle.login(
                    role_id=settings.vault_role_id, secret_id=settings.vault_secret_id
                ),
            )
            auth = answer["auth"]
            self.client.token = auth["client_token"]
            ttl, renewable = int(auth.get("lease_duration") or 0), bool(auth.get("renewable"))
        else:
            self.client.token = settings.vault_token
            data = self.call("token lookup", self.client.auth.token.lookup_self)["data"]
            ttl, renewable = int(data.get("ttl") or 0), bool(data.get("renewable"))
        self._set_token_ttl(ttl, renewable)

    def _set_token_ttl(self, ttl: int, renewable: bool) -> None:
        self._renewable = renewable
        self._renew_at = None if ttl <= 0 else self._clock() + ttl * RENEW_AT_FRACTION
        self._ttl = ttl

    def upkeep(self) -> float | None:
        """Renew the token when due, or log in again when it can no longer be renewed (near
        its max TTL); the seconds until the next renewal is due, None if never."""
        relogged = False
        with self._lock:
            if self._renew_at is None:
                return None
            if self._clock() < self._renew_at:
                return self._renew_at - self._clock()
            granted = self._renew()
            if granted is None or granted < self._ttl / 2:
                if self._can_relogin():
                    self._login()
                    relogged = True
                    log.info("vault: logged in again with AppRole (token near its max TTL)")
                elif granted is None:
                    self._renew_at = self._clock() + RETRY_SECONDS
            due = max(1.0, (self._renew_at or self._clock()) - self._clock())
        if relogged:
            for callback in self.on_relogin:
                callback()
        return due

    def _renew(self) -> int | None:
        """The token's new TTL, or None when it could not be renewed (logged)."""
        if not self._renewable:
            return None
        try:
            auth = self.call("token renewal", self.client.auth.token.renew_self)["auth"]
        except SecretsUnavailable as error:
            log.warning("%s", error)
            return None
        granted = int(auth.get("lease_duration") or 0)
        requested = self._ttl
        self._set_token_ttl(granted, bool(auth.get("renewable")))
        self._ttl = requested  # what we ask for each time; `granted` shrinks near max TTL
        return granted

    def _can_relogin(self) -> bool:
        return bool(self.settings.vault_role_id and self.settings.vault_secret_id)

    def read_kv(self, mount: str, path: str) -> dict[str, Any] | None:
        """The data of a KV v2 secret, None when it does not exist."""

        def read() -> dict[str, Any] | None:
            try:
                answer = self.client.secrets.kv.v2.read_secret_version(
                    path=path, mount_point=mount, raise_on_deleted_version=True
                )
            except hvac.exceptions.InvalidPath:
                return None
            return answer["data"]["data"]

        return self.call(f"read {mount}/{path}", read)
