"""The job change feed: which jobs changed, as PostgreSQL announces them (migration 0006).

A daemon thread holds one connection of its own that LISTENs on the channel the `jobs`
trigger notifies, and calls `on_change(job_id)` for every notification. What a consumer
caches is only as good as the feed, so the feed says when it cannot vouch for itself:
`on_up()` once it is listening and has heard itself, `on_down()` as soon as it may miss a
notification (connection lost, replaced, or closed). It reconnects on its own, with back-off.

A feed can be connected yet deaf: a proxy in transaction-pooling mode (PgBouncer) accepts
LISTEN and never delivers, a half-open TCP connection delivers nothing, a database without
migration 0006 never notifies. So before `on_up()` the listener checks that the trigger
exists and hears a NOTIFY of its own (a heartbeat), and then hears one every
HEARTBEAT_SECONDS or reports down and reconnects; the engine's TCP keepalives
(domain/adapters/db/engine.py) bound how long a dead connection can keep it waiting.

The connection comes from the service's engine, then is detached from its pool: it is made
with the same settings and, under Vault, as a leased user. It is replaced after
`recycle_seconds` like the pooled ones (leases rotate); a replacement is reported as down
then up (a consumer forgets what the feed vouched for), since notifications committed while
the new connection starts listening could reach neither.
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
TRIGGER = "jobs_changed"
# What pg_stat_activity shows for the listening session.
APPLICATION_NAME = "rota-job-feed"
# How often the thread looks up from its wait to notice close() (and what is due).
WAKE_SECONDS = 0.25
# A NOTIFY of its own this often, which must come back within HEARTBEAT_TIMEOUT_SECONDS.
HEARTBEAT_SECONDS = 10.0
HEARTBEAT_TIMEOUT_SECONDS = 5.0
# Reconnection back-off after a failure: doubles from the first to the last.
RETRY_SECONDS = (0.5, 30.0)
# Same as the pool's recycle age (domain/adapters/db/engine.py).
RECYCLE_SECONDS = 1800.0
_HEARTBEAT = "heartbeat "


class FeedUnavailable(Exception):
    """The feed cannot vouch for what it hears (no trigger, or deaf)."""


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
        """Stop listening and close the connection: within WAKE_SECONDS, or within
        HEARTBEAT_TIMEOUT_SECONDS if a heartbeat is under way."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=HEARTBEAT_TIMEOUT_SECONDS + 5.0)

    def _run(self) -> None:
        delay = self._retry[0]
        while not self._stop.is_set():
            try:
                conn = self._listen()
            except Exception as exc:
                log.warning("job change feed unavailable (%s); retrying in %.1f s", exc, delay)
                self._stop.wait(delay)
                delay = min(delay * 2, self._retry[1])
                continue
            delay = self._retry[0]
            self._on_up()
            try:
                self._serve(conn)
            except Exception as exc:
                log.warning("job change feed lost its connection (%s); reconnecting", exc)
            finally:
                # First: from here on notifications may be missed.
                self._on_down()
                _close_quietly(conn)

    def _serve(self, conn: Any) -> None:
        """Hand on notifications until close() or the recycle age (returns) or a failure,
        of the connection or of a heartbeat (raises)."""
        born = beat = time.monotonic()
        while not self._stop.is_set():
            for note in conn.notifies(timeout=WAKE_SECONDS):
                self._announce(note.payload)
            now = time.monotonic()
            if now - born >= self._recycle:
                log.info("job change feed: replacing its connection (recycle age)")
                return
            if now - beat >= HEARTBEAT_SECONDS:
                self._heartbeat(conn)
                beat = time.monotonic()

    def _heartbeat(self, conn: Any) -> None:
        """NOTIFY on the channel and hear it back (handing on what comes meanwhile), or
        raise FeedUnavailable."""
        token = f"{_HEARTBEAT}{uuid.uuid4()}"
        conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, token))
        deadline = time.monotonic() + HEARTBEAT_TIMEOUT_SECONDS
        while (left := deadline - time.monotonic()) > 0:
            for note in conn.notifies(timeout=left):
                if note.payload == token:
                    return
                self._announce(note.payload)
        raise FeedUnavailable(f"no heartbeat back within {HEARTBEAT_TIMEOUT_SECONDS} s")

    def _announce(self, payload: str) -> None:
        if payload.startswith(_HEARTBEAT):
            return  # this or another process checking its own feed
        try:
            job_id = uuid.UUID(payload)
        except ValueError:
            log.warning("ignored a %s notification that is not a job id: %r", CHANNEL, payload)
            return
        self._on_change(job_id)

    def _listen(self) -> Any:
        """A connection of its own (out of the pool) that listens on CHANNEL, on a database
        whose jobs notify it, and hears itself."""
        pooled = self._engine.raw_connection()
        conn = pooled.driver_connection  # before detach(), which forgets it
        pooled.detach()
        try:
            conn.autocommit = True
            conn.execute("SELECT set_config('application_name', %s, false)", (APPLICATION_NAME,))
            conn.execute(f"LISTEN {CHANNEL}")
            found = conn.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgname = %s"
                " AND tgrelid = to_regclass('jobs')",
                (TRIGGER,),
            ).fetchone()
            if not found or not found[0]:
                raise FeedUnavailable("no jobs_changed trigger: is migration 0006 applied?")
            self._heartbeat(conn)
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
