"""Retention (a beat task): finished jobs and their rosters are purged after
`retention_days`, idempotency keys after their time to live, sent outbox messages after a day.

Result cache entries need nothing here: Redis expires them by their TTL.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from domain.ports import Clock, UnitOfWork, UnitOfWorkFactory
from domain.services.retry import retry_conflicts

log = logging.getLogger(__name__)

# Rows per transaction: short locks, and a statement far below the statement timeout even
# for jobs with large rosters (their assignments go with them).
BATCH = 100
# A sent message is kept a while for operators who trace a job's publishing.
OUTBOX_SENT_KEEP = dt.timedelta(days=1)


@dataclass(frozen=True)
class RetentionPolicy:
    job_days: int = 30
    idempotency_hours: int = 24


@dataclass(frozen=True)
class Purged:
    jobs: int
    idempotency_keys: int
    outbox_messages: int


def purge_expired(
    uow_factory: UnitOfWorkFactory, clock: Clock, policy: RetentionPolicy, *, batch: int = BATCH
) -> Purged:
    """Delete everything past its retention, batch by batch; what was deleted."""
    now = clock()
    jobs_before = now - dt.timedelta(days=policy.job_days)
    keys_before = now - dt.timedelta(hours=policy.idempotency_hours)
    outbox_before = now - OUTBOX_SENT_KEEP
    purged = Purged(
        jobs=_drain(uow_factory, batch, lambda uow: uow.jobs.purge_finished(jobs_before, batch)),
        idempotency_keys=_drain(
            uow_factory, batch, lambda uow: uow.idempotency.purge(keys_before, batch)
        ),
        outbox_messages=_drain(
            uow_factory, batch, lambda uow: uow.outbox.purge_sent(outbox_before, batch)
        ),
    )
    if purged.jobs or purged.idempotency_keys or purged.outbox_messages:
        log.info("retention purged %s", purged)
    return purged


def _drain(uow_factory: UnitOfWorkFactory, batch: int, delete: Callable[[UnitOfWork], int]) -> int:
    total = 0
    while True:

        def one_batch() -> int:
            with uow_factory() as uow:
                deleted = delete(uow)
                uow.commit()
            return deleted

        deleted = retry_conflicts(one_batch)
        total += deleted
        if deleted < batch:
            return total
