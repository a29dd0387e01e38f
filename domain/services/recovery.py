"""Jobs that nobody will finish, sent to the workers again (a beat task).

Celery redelivers the message of a worker that died (acks_late), but not in two cases: the
task's hard time limit killed it (the message is acknowledged), or the message itself was lost
(a broker restarted without persistence). Such a job stays `running` or `queued` forever; this
sweep gives it a new outbox message. run_job then counts the attempt, and a job that keeps
dying ends `failed` with WORKER_LOST once it is out of attempts.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from domain.jobs import JobStatus
from domain.outbox import OutboxMessage
from domain.ports import Clock, UnitOfWorkFactory
from domain.services.retry import retry_conflicts

log = logging.getLogger(__name__)

BATCH = 100


@dataclass(frozen=True)
class StuckAfter:
    # Longer than any healthy run can last: the task's hard time limit plus a margin.
    running: dt.timedelta
    # Long enough that a message still waiting in the queue is not sent twice for nothing;
    # a duplicate is harmless (run_job re-reads the job) but wastes a delivery.
    queued: dt.timedelta = dt.timedelta(minutes=10)


def requeue_stuck_jobs(
    uow_factory: UnitOfWorkFactory, clock: Clock, after: StuckAfter, *, batch: int = BATCH
) -> int:
    """Add an outbox message for every stuck job (at most `batch` of each status); how many.

    A job gets one such message per period at most: one it has from the last `after` period,
    or an unsent one, excludes it (domain.ports.JobRepository.stuck)."""

    def sweep() -> int:
        now = clock()
        with uow_factory() as uow:
            stuck = uow.jobs.stuck(JobStatus.RUNNING, now - after.running, batch)
            stuck += uow.jobs.stuck(JobStatus.QUEUED, now - after.queued, batch)
            for job in stuck:
                log.warning(
                    "job %s is stuck %s (attempts %d); sending it to the workers again",
                    job.id,
                    job.status,
                    job.attempts,
                )
                uow.outbox.add(OutboxMessage.solve_job(job.id, job.correlation_id, now, now))
            uow.commit()
        return len(stuck)

    return retry_conflicts(sweep)
