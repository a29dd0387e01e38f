"""Marking published outbox messages sent, a batch at a time (the API's fast path).

`publish_after_commit` publishes a job's message right after the commit and then marks it
sent, so that the relay does not publish it again. Marked one by one, that is a second
transaction per submit, a fifth of POST /v1/jobs under load (`make bench-api`: 190 -> 230
req/s without it). `BatchedSentMarks` collects the ids and marks them in one UPDATE per
`interval` from a background thread.

Nothing is lost when a batch is: a message not marked sent is published again by the relay
once its fast-path delay (domain.services.jobs.FAST_PATH_SECONDS, 10 s) has passed, and the
worker's task is idempotent, so the price of a crash between publish and flush is one no-op
task per message, as it already was for a crash between publish and mark.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid

from domain.ports import Clock, UnitOfWorkFactory

log = logging.getLogger(__name__)

FLUSH_INTERVAL_SECONDS = 0.05
MAX_BATCH = 1000  # ids per UPDATE; more wait for the next round


class BatchedSentMarks:
    """Marks messages sent in batches from a daemon thread; safe from many threads."""

    def __init__(
        self,
        uow_factory: UnitOfWorkFactory,
        clock: Clock,
        *,
        interval: float = FLUSH_INTERVAL_SECONDS,
    ) -> None:
        self._uow_factory = uow_factory
        self._clock = clock
        self._interval = interval
        self._pending: list[uuid.UUID] = []
        self._wake = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="outbox-marks", daemon=True)
        self._thread.start()

    def mark_sent(self, message_id: uuid.UUID) -> None:
        """Mark this published message sent within about `interval` seconds (at once, in
        the caller's thread, once closed: a submit still running at shutdown)."""
        with self._wake:
            if not self._closed:
                self._pending.append(message_id)
                if len(self._pending) == 1:
                    self._wake.notify()
                return
        self._flush([message_id], self._clock())

    def close(self) -> None:
        """Flush what is pending and stop the thread (process shutdown)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._wake.wait()
                if not self._pending and self._closed:
                    return
            # Let a batch gather: under load, dozens of submits land in one interval.
            if not self._closed:
                time.sleep(self._interval)
            with self._wake:
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
            self._flush(batch, self._clock())

    def _flush(self, batch: list[uuid.UUID], now: dt.datetime) -> None:
        try:
            with self._uow_factory() as uow:
                uow.outbox.mark_sent_many(batch, now)
                uow.commit()
        except Exception:
            # The relay publishes these again after the fast-path delay: no-op tasks.
            log.warning("could not mark %d outbox message(s) sent", len(batch), exc_info=True)
