"""Thin tasks (STYLE.md 5): the only argument is an id, the work lives in a use case.

`solve_job` may run twice for one job (acks_late redelivers after a lost worker, a producer may
publish twice): run_job re-reads the row and its guarded updates make a second run a no-op.

The beat tasks (schedule in domain.adapters.celery_config.beat_schedule) take no argument:
the outbox relay, the stuck-job sweep and retention. Each is safe to run on several workers at
once, and a run that fails is simply followed by the next one.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from domain.adapters.celery_config import (
    PURGE_EXPIRED_TASK,
    RELAY_OUTBOX_TASK,
    REQUEUE_STUCK_TASK,
    SOLVE_TASK,
    stuck_running_seconds,
)
from domain.errors import ServiceUnavailable
from domain.services.outbox import relay_outbox
from domain.services.recovery import StuckAfter, requeue_stuck_jobs
from domain.services.retention import RetentionPolicy, purge_expired
from domain.services.solving import RunSettings, run_job
from domain.settings import Settings
from workers import process
from workers.app import app

log = logging.getLogger(__name__)

# The database (or the network to it) failing for a moment: worth another delivery later.
# Each retry that gets past run_job's start counts one attempt in the database, so a job that
# keeps failing this way still ends (WORKER_LOST after ROTA_MAX_ATTEMPTS).
# ServiceUnavailable: the unit of work's name for a lost database (RetryableConflict included).
TRANSIENT_ERRORS = (ServiceUnavailable, OperationalError, InterfaceError, PoolTimeoutError)


@app.task(
    name=SOLVE_TASK,
    ignore_result=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=5,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
)
def solve_job(job_id: str) -> str | None:
    """Run the job to a final state; returns that state (shown by Flower) or None."""
    # The correlation id of the message is bound by workers.correlation (task_prerun).
    try:
        parsed = uuid.UUID(job_id)
    except (TypeError, ValueError, AttributeError):
        # Retrying cannot fix a bad id: drop the message (it is acknowledged).
        log.error("dropping a solve_job message with an invalid job id %.80r", job_id)
        return None
    c = process.container()
    log.info("solving job %s", parsed)
    status = run_job(
        parsed, c.uow_factory, c.cache, c.solve, c.clock, run_settings(c.settings), c.queue
    )
    log.info("job %s: %s", parsed, status or "nothing to do")
    return None if status is None else status.value


@app.task(name=RELAY_OUTBOX_TASK, ignore_result=True)
def relay_outbox_task() -> int:
    """Publish the outbox messages that are due (a job whose first publish failed)."""
    c = process.container()
    return relay_outbox(c.uow_factory, c.queue, c.clock)


@app.task(name=REQUEUE_STUCK_TASK, ignore_result=True)
def requeue_stuck_jobs_task() -> int:
    """Give jobs that no worker will finish a new outbox message."""
    c = process.container()
    after = StuckAfter(
        running=dt.timedelta(seconds=stuck_running_seconds(c.settings)),
        queued=dt.timedelta(seconds=c.settings.stuck_queued_seconds),
    )
    return requeue_stuck_jobs(c.uow_factory, c.clock, after)


@app.task(name=PURGE_EXPIRED_TASK, ignore_result=True)
def purge_expired_task() -> dict[str, int]:
    """Delete finished jobs, idempotency keys and sent messages past their retention."""
    c = process.container()
    policy = RetentionPolicy(
        job_days=c.settings.retention_days, idempotency_hours=c.settings.idempotency_ttl_hours
    )
    purged = purge_expired(c.uow_factory, c.clock, policy)
    return {
        "jobs": purged.jobs,
        "idempotency_keys": purged.idempotency_keys,
        "outbox_messages": purged.outbox_messages,
    }


def run_settings(settings: Settings) -> RunSettings:
    return RunSettings(
        max_attempts=settings.max_attempts,
        cache_ttl_seconds=settings.cache_ttl_seconds,
        progress_interval_seconds=settings.progress_interval_seconds,
    )
