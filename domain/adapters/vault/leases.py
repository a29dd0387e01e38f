"""Dynamic database users: issued by Vault's database engine, renewed, replaced in time.

`LeasedCredentials` holds the user the process connects as. It renews the lease when two
thirds of it have passed; when Vault grants less than asked (the lease's max TTL is near), when
the lease is gone (an operator revoked it) or when the database refuses the user, it draws a
new user and bumps `generation`, and the engine (domain/adapters/vault/engine_credentials.py)
replaces pooled connections of older generations as they are checked out. Work in flight on
an old connection finishes; only connections the database itself killed fail.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from domain.adapters.vault.session import RENEW_AT_FRACTION, RETRY_SECONDS, VaultSession
from domain.secrets import DatabaseCredentials, DatabaseCredentialsSource, SecretsUnavailable

log = logging.getLogger(__name__)

# A user refused by the database triggers at most one new user per this many seconds, so a
# database that refuses everyone (it is down) does not drain Vault of users.
REFRESH_COOLDOWN_SECONDS = 2.0


class VaultDatabaseCredentials:
    """DatabaseCredentialsSource over `<mount>/creds/<role>` and sys/leases/renew."""

    def __init__(self, session: VaultSession, *, mount: str, role: str) -> None:
        self._session = session
        self._mount = mount
        self._role = role

    def issue(self) -> DatabaseCredentials:
        answer = self._session.call(
            f"database credentials {self._mount}/creds/{self._role}",
            lambda: self._session.client.secrets.database.generate_credentials(
                name=self._role, mount_point=self._mount
            ),
        )
        return DatabaseCredentials(
            username=answer["data"]["username"],
            password=answer["data"]["password"],
            lease_id=answer["lease_id"],
            lease_seconds=int(answer["lease_duration"]),
            renewable=bool(answer["renewable"]),
        )

    def renew(self, lease_id: str, increment_seconds: int) -> int:
        answer = self._session.call(
            f"renew lease {lease_id}",
            lambda: self._session.client.sys.renew_lease(
                lease_id=lease_id, increment=increment_seconds
            ),
        )
        return int(answer["lease_duration"])


class LeasedCredentials:
    """The current database user of this process, kept alive by `upkeep()`."""

    def __init__(
        self, source: DatabaseCredentialsSource, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._source = source
        self._clock = clock
        self._lock = threading.Lock()
        self.generation = 0
        self.replacements = 0  # how many users this process drew after the first (metrics)
        self._credentials = source.issue()
        self._schedule(self._credentials.lease_seconds)
        # When a user last replaced another (the first one replaced none).
        self._last_refresh = float("-inf")

    def current(self) -> tuple[DatabaseCredentials, int]:
        with self._lock:
            return self._credentials, self.generation

    def refused(self, generation: int) -> bool:
        """The database refused the user of `generation`: draw a new one unless that was
        done already; whether new credentials are there to try."""
        with self._lock:
            if generation != self.generation:
                return True
            if self._clock() - self._last_refresh < REFRESH_COOLDOWN_SECONDS:
                return False
            return self._replace("the database refused the user")

    def replace(self, reason: str) -> bool:
        with self._lock:
            return self._replace(reason)

    def upkeep(self) -> float:
        """Renew or replace the lease when due; seconds until the next check is due."""
        with self._lock:
            now = self._clock()
            if now >= self._renew_at:
                self._renew()
            return max(1.0, self._renew_at - self._clock())

    def _renew(self) -> None:
        current = self._credentials
        if not current.renewable:
            self._replace("the lease is not renewable")
            return
        try:
            granted = self._source.renew(current.lease_id, current.lease_seconds)
        except SecretsUnavailable as error:
            # Gone (revoked) or Vault unreachable: a new user if Vault answers, else retry.
            log.warning("database lease renewal failed: %s", error)
            if not self._replace("the lease could not be renewed"):
                self._renew_at = self._clock() + RETRY_SECONDS
            return
        log.debug("database lease renewed for %s s", granted)
        if granted < current.lease_seconds * (1 - RENEW_AT_FRACTION):
            # Its max TTL is near: change users while the old one still works.
            self._replace("the lease is near its max TTL")
        else:
            self._schedule(granted)

    def _replace(self, reason: str) -> bool:
        try:
            fresh = self._source.issue()
        except SecretsUnavailable as error:
            log.error("no new database user (%s): %s", reason, error)
            return False
        old = self._credentials.username
        self._credentials = fresh
        self.generation += 1
        self.replacements += 1
        self._last_refresh = self._clock()
        self._schedule(fresh.lease_seconds)
        log.info("database user %s replaced by %s: %s", old, fresh.username, reason)
        return True

    def _schedule(self, lease_seconds: int) -> None:
        self._renew_at = self._clock() + max(1.0, lease_seconds * RENEW_AT_FRACTION)


class Upkeep:
    """One daemon thread per process that keeps the Vault token, the database lease and the
    watched secrets fresh. Each task checks whether it is due and returns the seconds until it
    is next due; the thread sleeps until the earliest."""

    def __init__(self, tasks: list[Callable[[], float | None]]) -> None:
        self._tasks = list(tasks)
        self._stopped = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="vault-upkeep", daemon=True)

    def add(self, task: Callable[[], float | None]) -> None:
        self._tasks.append(task)
        self._wake.set()  # so the new task's schedule counts from now

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()

    def _run(self) -> None:
        while not self._stopped.is_set():
            waits = []
            for task in list(self._tasks):
                try:
                    due = task()
                except Exception:  # a bug here must not end the upkeep of the others
                    log.exception("vault upkeep task failed")
                    due = RETRY_SECONDS
                if due is not None:
                    waits.append(due)
            self._wake.wait(min(waits, default=RETRY_SECONDS))
            self._wake.clear()
