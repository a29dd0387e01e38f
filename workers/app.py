"""The Celery app of the workers: `celery -A workers.app worker ...` (see workers/__init__.py)."""

from __future__ import annotations

from celery import Celery
from celery.signals import (
    celeryd_init,
    setup_logging,
    task_postrun,
    task_prerun,
    worker_process_init,
    worker_process_shutdown,
)

from workers import correlation, process

correlation.install_log_record_factory()

app = Celery("rota", include=["workers.tasks", "workers.webhook_tasks"])
app.config_from_object("celeryconfig")

setup_logging.connect(process.setup_logging, weak=False)
celeryd_init.connect(process.init_error_reporting, weak=False)
worker_process_init.connect(process.open_container, weak=False)
worker_process_shutdown.connect(process.close_container, weak=False)
task_prerun.connect(correlation.on_task_prerun, weak=False)
task_postrun.connect(correlation.on_task_postrun, weak=False)
