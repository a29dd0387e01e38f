"""Cancelling a job (POST /v1/jobs/{id}/cancel).

A queued job is cancelled at once, by a guarded UPDATE: a worker that picks up its message
later finds it finished and does nothing. A running job is only asked to stop: its solve polls
the request (domain.services.solving) and ends `cancelled`, keeping the best roster so far.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain.errors import Conflict, NotFound
from domain.jobs import Job
from domain.ports import Clock, UnitOfWorkFactory
from domain.services.retry import retry_conflicts
from domain.services.webhooks import record_finished_job
from domain.tenancy import Principal


@dataclass(frozen=True)
class Cancellation:
    job: Job
    # True: the job is cancelled now; False: a running solve was asked to stop.
    immediate: bool


def cancel_job(
    principal: Principal, job_id: uuid.UUID, uow_factory: UnitOfWorkFactory, clock: Clock
) -> Cancellation:
    """Cancel the caller's job; NotFound (JOB_NOT_FOUND), Conflict (JOB_FINISHED)."""

    def cancel() -> Cancellation:
        with uow_factory() as uow:
            job = uow.jobs.get(job_id, principal.tenant_id)
            if job is None:
                raise NotFound(f"no job {job_id}", code="JOB_NOT_FOUND")
            now = clock()
            # Each UPDATE is guarded by the status, so a worker starting the job between the
            # read above and here makes the first one miss and the second one match.
            if not job.status.finished and uow.jobs.cancel_queued(job_id, now):
                immediate = True
                # Its `job.cancelled` webhooks: sent by the sweep (the API publishes no task).
                record_finished_job(uow, job_id, now)
            elif not job.status.finished and uow.jobs.request_cancel(job_id, now):
                immediate = False
            else:
                current = uow.jobs.get(job_id, principal.tenant_id) or job
                raise Conflict(
                    f"job {job_id} has already finished ({current.status})", code="JOB_FINISHED"
                )
            uow.commit()
            updated = uow.jobs.get(job_id, principal.tenant_id)
        assert updated is not None, "the job was just updated"
        return Cancellation(updated, immediate)

    return retry_conflicts(cancel)
