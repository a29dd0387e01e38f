"""Application secrets from a KV v2 engine (the Vault implementation of SecretsProvider)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from domain.adapters.vault.session import VaultSession
from domain.secrets import SecretName, SecretsUnavailable

log = logging.getLogger(__name__)

# Secrets are read again after this long, so a process that lives for days picks up a key
# added in Vault without a restart of its reader (what uses them: ops/vault/README.md).
CACHE_SECONDS = 300.0


class VaultSecrets:
    """Reads `<mount>/<prefix>/<name.path>` field `name.field`, cached `ttl_seconds`.

    When a refresh fails (Vault down for a moment), the last value is kept and the failure
    logged: a running process keeps what it had; only a process that never read a secret
    (one starting up) fails.
    """

    def __init__(
        self,
        session: VaultSession,
        *,
        mount: str,
        prefix: str,
        ttl_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._mount = mount
        self._prefix = prefix.strip("/")
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[SecretName, tuple[float, str | None]] = {}

    def location(self, name: SecretName) -> str:
        return f"{self._mount}/{self._prefix}/{name.path}"

    def read(self, name: SecretName) -> str | None:
        cached = self._cache.get(name)
        if cached is not None and self._clock() - cached[0] < self._ttl:
            return cached[1]
        try:
            value = self._fetch(name)
        except SecretsUnavailable as error:
            if cached is None:
                raise
            log.warning("keeping the cached %s: %s", self.location(name), error)
            return cached[1]
        self._cache[name] = (self._clock(), value)
        return value

    def _fetch(self, name: SecretName) -> str | None:
        data = self._session.read_kv(self._mount, f"{self._prefix}/{name.path}")
        value = (data or {}).get(name.field)
        if isinstance(value, str) and value.strip():
            return value.strip()
        if name.optional:
            return None
        what = "does not exist" if data is None else f"has no field {name.field!r}"
        raise SecretsUnavailable(
            f"vault at {self._session.addr}: secret {self.location(name)} {what}"
        )
