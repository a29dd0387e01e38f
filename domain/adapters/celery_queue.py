"""The JobQueue of producers (the API, the outbox relay): publishes `rota.solve_job` by name.

It never imports `workers/` (import-linter keeps the API and the workers apart): the task is
sent by its name to the `solve` queue, with the job's correlation id in a message header that
the worker puts into its log records. Webhook deliveries (`rota.deliver_webhook`) go the same
way to the `light` queue.
"""

from __future__ import annotations

import uuid

from celery import Celery

from domain.adapters.celery_config import (
    DELIVER_WEBHOOK_TASK,
    LIGHT_QUEUE,
    SOLVE_QUEUE,
    SOLVE_TASK,
    celery_config,
)
from domain.settings import Settings

# Not "correlation_id": Celery reserves that name (the AMQP property, always the task id), and
# a custom header of that name is overwritten on the worker side (celery/worker/request.py).
CORRELATION_HEADER = "rota_correlation_id"


def make_producer_app(settings: Settings) -> Celery:
    """A Celery app that only publishes, configured like the workers (celery_config)."""
    app = Celery("rota", set_as_current=False)
    app.config_from_object(celery_config(settings))
    return app


class CeleryJobQueue:
    """JobQueue over Celery. Publishing retries briefly (Celery's task_publish_retry), then
    raises; submit_job keeps the job queued when it does."""

    def __init__(self, app: Celery) -> None:
        self._app = app

    def enqueue_solve(self, job_id: uuid.UUID, correlation_id: str) -> None:
        self._app.send_task(
            SOLVE_TASK,
            args=[str(job_id)],
            queue=SOLVE_QUEUE,
            # The job id as task id, so an operator finds a job's task in Flower by its id.
            task_id=str(job_id),
            headers={CORRELATION_HEADER: correlation_id},
        )

    def enqueue_delivery(self, delivery_id: uuid.UUID, correlation_id: str) -> None:
        """Publish one attempt of a committed webhook delivery (domain.webhook_ports)."""
        self._app.send_task(
            DELIVER_WEBHOOK_TASK,
            args=[str(delivery_id)],
            queue=LIGHT_QUEUE,
            headers={CORRELATION_HEADER: correlation_id},
        )

    def close(self) -> None:
        """Release the broker connections of the producer pool."""
        self._app.close()
