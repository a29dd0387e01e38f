"""The job change feed: which jobs changed, as PostgreSQL announces them (migration 0006).

A daemon thread holds one connection of its own that LISTENs on the channel the `jobs`
trigger notifies, and calls `on_change(job_id)` for every notification. What a consumer
caches is only as good as the feed, so the feed says when it cannot vouch for itself:
`on_up()` once it is listening, `on_down()` as soon as the connection is lost (notifications
may have been missed from then until the next `on_up()`). It reconnects on its own, with
back-off.

The connection comes from the service's engine, then is detached from its pool: it is made
with the same settings and, under Vault, as the current leased user. It is replaced after
`recycle_seconds` like the pooled ones (leases rotate); the new one listens before the old
one is closed, so a planned replacement loses nothing and is not reported as down.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# Also in migrations/versions/0006_job_change_feed.py, which notifies it.
CHANNEL = "rota_job_changed"
# How often the thread looks up from its wait to notice close() (and the recycle age).
WAKE_SECONDS = 0.25
# Reconnection back-off after a failure: doubles from the first to the last.
RETRY_SECONDS = (0.5, 30.0)
# Same as the pool's recycle age (domain/adapters/db/engine.py).
RECYCLE_SECONDS = 1800.0


class JobChangeListener:
    def __init__(
        self,
        engine: Engine,
        *,
        on_change: Callable[[uuid.UUID], None],
        on_up: Callable[[], None],
        on_down: Callable[[], None],
        recycle_seconds: float = RECYCLE_SECONDS,
        retry_seconds: tuple[float, float] = RETRY_SECONDS,
    ) -> None:
        self._engine = engine
        self._on_change = on_change
        self._on_up = on_up
        self._on_down = on_down
        self._recycle = recycle_seconds
        self._retry = retry_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="job-change-feed", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        """Stop listening (within WAKE_SECONDS) and close the connection."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _run(self) -> None:
        delay = self._retry[0]
        while not self._stop.is_set():
            try:
                conn = self._listen()
            except Exception as exc:
                log.warning("job change feed cannot connect (%s); retrying in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._retry[1])
                continue
            delay = self._retry[0]
            self._on_up()
            try:
                self._serve(conn)
            except Exception as exc:
                # Said before anything else: from here on notifications may be missed.
                self._on_down()
                log.warning("job change feed lost its connection (%s); reconnecting", exc)
                _close_quietly(conn)
                continue
        self._on_down()

    def _serve(self, conn: Any) -> None:
        """Hand on notifications until close() (then closes `conn`) or an error (raised)."""
        born = time.monotonic()
        while not self._stop.is_set():
            for note in conn.notifies(timeout=WAKE_SECONDS):
                self._announce(note.payload)
            if time.monotonic() - born >= self._recycle:
                fresh = self._listen()  # raises: handled as a lost connection
                for note in conn.notifies(timeout=0):  # what reached the old one meanwhile
                    self._announce(note.payload)
                _close_quietly(conn)
                conn, born = fresh, time.monotonic()
        _close_quietly(conn)

    def _announce(self, payload: str) -> None:
        try:
            job_id = uuid.UUID(payload)
        except ValueError:
            log.warning("ignored a %s notification that is not a job id: %r", CHANNEL, payload)
            return
        self._on_change(job_id)

    def _listen(self) -> Any:
        """A connection of its own (out of the pool) that listens on CHANNEL."""
        pooled = self._engine.raw_connection()
        conn = pooled.driver_connection  # before detach(), which forgets it
        pooled.detach()
        try:
            conn.autocommit = True
            conn.execute(f"LISTEN {CHANNEL}")
        except Exception:
            _close_quietly(conn)
            raise
        return conn


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception:  # already broken: nothing left to release
        log.debug("closing the job change feed's connection failed", exc_info=True)


def job_change_listener(
    engine: Engine,
    *,
    enabled: bool,
    on_change: Callable[[uuid.UUID], None],
    on_up: Callable[[], None],
    on_down: Callable[[], None],
) -> JobChangeListener | None:
    """The feed of `engine`'s database, or None where there is none (SQLite has no NOTIFY)
    or it is turned off (ROTA_DB_CHANGE_FEED)."""
    if not enabled or engine.url.get_backend_name() != "postgresql":
        return None
    return JobChangeListener(engine, on_change=on_change, on_up=on_up, on_down=on_down)
