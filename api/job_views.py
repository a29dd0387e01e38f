"""The views of jobs this API process has read, so that polling a job need not query the
database every time.

- A finished job never changes: its view is kept `finished_ttl` seconds whatever happens.
- A queued or running job changes (started, progress about once a second, finished,
  cancelled): its view is kept only while a change feed is up (PostgreSQL's, see
  domain/adapters/db/job_changes.py), and dropped when the feed says that job changed. While
  the feed is down (not started, connection lost, SQLite) such views are neither kept nor
  served, since a change could go unannounced.

Races: a reader takes `version()` before its query and passes it to `put()`; a change of
that job announced in between makes the put a no-op, so a view read before a change can
never be stored after the change's announcement. Changes are numbered; the last
RECENT_CHANGES of them are remembered per job, so a read overlapping other jobs' changes is
still cached. A put is refused when it cannot be vouched for: the feed went up or down since
the read began, or the change log forgot changes made since (then any job may have changed).

Entries are keyed by job id and hold the tenant: a job of another tenant is a miss, and the
caller's query then answers 404 as usual.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

from api.ttl_cache import TtlCache

V = TypeVar("V")

# A finished job is kept this long; a job deleted by retention stays readable in a process
# for up to this long when no feed announces the deletion.
FINISHED_TTL_SECONDS = 60.0
# A live (queued/running) job is kept at most this long even if the feed never says it
# changed: a bound on the damage of a notification that never came, not the mechanism.
LIVE_TTL_SECONDS = 30.0
MAX_ENTRIES = 10_000
# Changes remembered per job for put()'s check: a read must end within this many changes
# (of any job) of its start to be cached; at 1,000 changes a second that is 4 s.
RECENT_CHANGES = 4_096


class JobViews(Generic[V]):
    def __init__(
        self,
        *,
        finished_ttl: float = FINISHED_TTL_SECONDS,
        live_ttl: float = LIVE_TTL_SECONDS,
        max_entries: int = MAX_ENTRIES,
        recent_changes: int = RECENT_CHANGES,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        # job id -> (tenant id, view); finished and live views age differently.
        self._finished: TtlCache[tuple[uuid.UUID, V]] = TtlCache(
            ttl_seconds=finished_ttl, max_entries=max_entries, monotonic=monotonic
        )
        self._live: TtlCache[tuple[uuid.UUID, V]] = TtlCache(
            ttl_seconds=live_ttl, max_entries=max_entries, monotonic=monotonic
        )
        # Guards the version, the feed state and the change log, and makes put()'s check
        # and store one step against changed().
        self._lock = threading.Lock()
        self._version = 0
        self._feed_up = False
        # job id -> number of its last change, for the last `recent_changes` changes.
        self._recent: OrderedDict[uuid.UUID, int] = OrderedDict()
        self._recent_max = recent_changes
        # Reads that began before this number cannot be vouched for (feed up/down, or a
        # change forgotten by _recent).
        self._floor = 0

    def get(self, tenant_id: uuid.UUID, job_id: uuid.UUID) -> V | None:
        hit = self._live.get(job_id) or self._finished.get(job_id)
        if hit is None:
            return None
        owner, view = hit
        return view if owner == tenant_id else None

    def version(self) -> int:
        """Take before reading a job from the database; give to put() with what was read."""
        return self._version

    def put(
        self, tenant_id: uuid.UUID, job_id: uuid.UUID, view: V, *, finished: bool, version: int
    ) -> None:
        with self._lock:
            if version < self._floor or self._recent.get(job_id, -1) > version:
                return
            if not (finished or self._feed_up):
                return
            (self._finished if finished else self._live).put(job_id, (tenant_id, view))

    def changed(self, job_id: uuid.UUID) -> None:
        """The job changed (or was deleted): forget its view. Also called by this process
        after its own writes (a cancel), so it reads them back before the feed says so."""
        with self._lock:
            self._version += 1
            self._finished.pop(job_id)
            self._live.pop(job_id)
            self._recent[job_id] = self._version
            self._recent.move_to_end(job_id)
            if len(self._recent) > self._recent_max:
                _, forgotten = self._recent.popitem(last=False)
                self._floor = max(self._floor, forgotten)

    def feed_up(self) -> None:
        with self._lock:
            self._version += 1
            self._floor = self._version
            self._feed_up = True

    def feed_down(self) -> None:
        """Changes may go unannounced from now on: forget every live view, keep no more."""
        with self._lock:
            self._version += 1
            self._floor = self._version
            self._feed_up = False
            self._live.clear()
