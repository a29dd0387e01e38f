"""Publishing the transactional outbox (DESIGN.md section 2).

A message is published twice at most in ordinary operation, never zero times: first by the
process that committed it (`publish_after_commit`, the fast path), else by the relay
(`relay_outbox`), which a beat task runs every few seconds and which any loop may call. The
worker's task is idempotent (domain.services.solving), so a message sent twice (a publish
whose "sent" mark was lost) costs a no-op, while one never sent would lose a job.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from typing import Protocol

from domain.outbox import SOLVE_JOB, OutboxMessage
from domain.ports import Clock, JobQueue, UnitOfWorkFactory

log = logging.getLogger(__name__)

BATCH = 100
# One relay call handles this many batches at most, so a beat task always ends soon.
MAX_BATCHES = 10
# A failed publish is retried after 1 s, 2 s, 4 s ... at most a minute apart.
RETRY_BASE_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0
# An unknown kind cannot become publishable by waiting; it is looked at again hourly.
UNKNOWN_KIND_RETRY = dt.timedelta(hours=1)


class UnknownKind(Exception):
    """A message this version of the relay cannot publish (written by a newer version)."""


def publish(message: OutboxMessage, queue: JobQueue) -> None:
    """Send one message to the broker; raises when it cannot."""
    if message.kind == SOLVE_JOB and message.job_id is not None:
        queue.enqueue_solve(message.job_id, message.correlation_id)
        return
    raise UnknownKind(f"no publisher for outbox messages of kind {message.kind!r}")


class SentMarks(Protocol):
    """Marks published messages sent later, in batches (domain/services/outbox_marks.py)."""

    def mark_sent(self, message_id: uuid.UUID) -> None: ...


def publish_after_commit(
    message: OutboxMessage,
    uow_factory: UnitOfWorkFactory,
    queue: JobQueue,
    clock: Clock,
    marks: SentMarks | None = None,
) -> bool:
    """The fast path: publish a message just committed and mark it sent (through `marks`
    when given, else in a transaction of its own). Never raises: when the broker refuses,
    the message is left for the relay (at once, not after the fast-path delay), and the
    caller's work is already safe in the database. Whether it was sent."""
    try:
        publish(message, queue)
    except Exception as exc:
        log.warning(
            "could not publish %s %s; the outbox relay will: %s",
            message.kind,
            message.job_id,
            _describe(exc),
        )
        _record(uow_factory, message, clock, error=_describe(exc), retry_at=clock())
        return False
    if marks is not None:
        marks.mark_sent(message.id)
    else:
        _record(uow_factory, message, clock)
    return True


def relay_outbox(
    uow_factory: UnitOfWorkFactory, queue: JobQueue, clock: Clock, *, batch: int = BATCH
) -> int:
    """Publish the messages that are due and mark them sent; the number published.

    Safe with several relays at once: each batch is claimed with row locks that the others
    skip, and marked sent in the same transaction. The first publish that fails ends the call
    (the broker is most likely down; the rest would fail the same way, each slowly)."""
    published = 0
    for _ in range(MAX_BATCHES):
        sent, full, broker_failed = _relay_batch(uow_factory, queue, clock, batch)
        published += sent
        if broker_failed or not full:
            break
    return published


def _relay_batch(
    uow_factory: UnitOfWorkFactory, queue: JobQueue, clock: Clock, batch: int
) -> tuple[int, bool, bool]:
    sent = 0
    with uow_factory() as uow:
        messages = uow.outbox.claim(clock(), batch)
        for message in messages:
            try:
                publish(message, queue)
            except UnknownKind as exc:
                log.error("%s", exc)
                uow.outbox.mark_failed(
                    message.id, error=str(exc), retry_at=clock() + UNKNOWN_KIND_RETRY
                )
                continue
            except Exception as exc:
                log.warning(
                    "outbox relay: publishing %s %s failed: %s",
                    message.kind,
                    message.job_id,
                    _describe(exc),
                )
                uow.outbox.mark_failed(
                    message.id, error=_describe(exc), retry_at=clock() + _backoff(message)
                )
                uow.commit()
                return sent, False, True
            uow.outbox.mark_sent(message.id, clock())
            sent += 1
        uow.commit()
    if sent:
        log.info("outbox relay published %d message(s)", sent)
    return sent, len(messages) == batch, False


def _record(
    uow_factory: UnitOfWorkFactory,
    message: OutboxMessage,
    clock: Clock,
    *,
    error: str | None = None,
    retry_at: dt.datetime | None = None,
) -> None:
    try:
        with uow_factory() as uow:
            if error is None:
                uow.outbox.mark_sent(message.id, clock())
            else:
                uow.outbox.mark_failed(message.id, error=error, retry_at=retry_at or clock())
            uow.commit()
    except Exception:
        # Unmarked, the message is published again by the relay after the fast-path delay:
        # one more no-op task, nothing lost.
        log.warning("could not mark outbox message %s", message.id, exc_info=True)


def _backoff(message: OutboxMessage) -> dt.timedelta:
    seconds = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** min(message.attempts, 16))
    return dt.timedelta(seconds=seconds)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]
