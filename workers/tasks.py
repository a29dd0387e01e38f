"""Thin tasks (STYLE.md 5): the only argument is an id, the work lives in a use case.

`solve_job` may run twice for one job (acks_late redelivers after a lost worker, a producer may
publish twice): run_job re-reads the row and its guarded updates make a second run a no-op.
"""

from __future__ import annotations

import logging
import uuid

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from domain.adapters.celery_config import SOLVE_TASK
from domain.services.solving import RunSettings, run_job
from domain.settings import Settings
from workers import process
from workers.app import app

log = logging.getLogger(__name__)

# The database (or the network to it) failing for a moment: worth another delivery later.
# Each retry that gets past run_job's start counts one attempt in the database, so a job that
# keeps failing this way still ends (WORKER_LOST after ROTA_MAX_ATTEMPTS).
TRANSIENT_ERRORS = (OperationalError, InterfaceError, PoolTimeoutError)


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
    status = run_job(parsed, c.uow_factory, c.cache, c.solve, c.clock, run_settings(c.settings))
    log.info("job %s: %s", parsed, status or "nothing to do")
    return None if status is None else status.value


def run_settings(settings: Settings) -> RunSettings:
    return RunSettings(
        max_attempts=settings.max_attempts,
        cache_ttl_seconds=settings.cache_ttl_seconds,
        progress_interval_seconds=settings.progress_interval_seconds,
    )
