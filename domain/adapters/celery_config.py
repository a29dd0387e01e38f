"""Celery settings of Rota, as a function of `Settings` (read by celeryconfig.py).

The worker reads them through `app.config_from_object("celeryconfig")`, which evaluates them
from the environment (`get_settings()`); the API's producer app is built from the `Settings`
it was given (domain.adapters.celery_queue.make_producer_app), so both live here, in a
module with no import-time side effects.

Solves are long (up to `max_time_limit_seconds`) and must survive a worker that dies, so the
choices below follow Celery's guidance for long tasks (userguide/optimizing.rst, "Prefetch
limits" and "Reserve one task at a time"; userguide/configuration.rst).
"""

from __future__ import annotations

import math
from typing import Any

from kombu import Exchange, Queue

from domain.settings import Settings, SettingsError
from domain.solver.child import HEURISTIC_MAX_SECONDS
from domain.solver.runner import DEFAULT_GRACE

SOLVE_TASK = "rota.solve_job"
# Webhooks (workers/webhook_tasks.py): one attempt of one delivery, and the sweep of due ones.
DELIVER_WEBHOOK_TASK = "rota.deliver_webhook"
SWEEP_WEBHOOKS_TASK = "rota.sweep_webhooks"
# How often due webhook deliveries (retries, lost messages) are looked for.
WEBHOOK_SWEEP_SECONDS = 15.0
SOLVE_QUEUE = "solve"
LIGHT_QUEUE = "light"
# Beat tasks of the reliable pipeline (workers/tasks.py), all on the light queue.
RELAY_OUTBOX_TASK = "rota.relay_outbox"
REQUEUE_STUCK_TASK = "rota.requeue_stuck_jobs"
PURGE_EXPIRED_TASK = "rota.purge_expired"
STUCK_SWEEP_SECONDS = 60.0
RETENTION_SECONDS = 3600.0
# A job `running` this long after the hard time limit has no live task (requeue_stuck_jobs).
STUCK_MARGIN_SECONDS = 60
# The beat's state (last run of each entry), under ROTA_DATA_DIR unless `--schedule` says.
BEAT_SCHEDULE_FILE = "celerybeat-schedule"

# Time a task may spend around the solve itself: reading the problem, compiling it, scoring the
# roster and writing its assignments (a 2,000-employee year is ~700k rows, each statement
# capped at ROTA_DB_STATEMENT_TIMEOUT_MS). Generous: the limits below are backstops that a
# healthy job never reaches, since the runner already kills the solver at time limit + grace.
TASK_OVERHEAD_SECONDS = 120
# Between the soft limit (an exception in the task: the runner's `finally` kills the solver
# child and run_job records SOLVER_ERROR) and the hard limit (SIGKILL of the pool process).
SOFT_TO_HARD_SECONDS = 30
# Celery's own default visibility timeout for Redis (one hour); raised with the time limit.
MIN_VISIBILITY_TIMEOUT = 3600

# %(correlation_id)s is filled in by workers.correlation's log record factory.
LOG_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] [%(correlation_id)s] %(message)s"
TASK_LOG_FORMAT = (
    "[%(asctime)s: %(levelname)s/%(processName)s] [%(correlation_id)s] "
    "%(task_name)s[%(task_id)s]: %(message)s"
)


def solver_wall_seconds(settings: Settings) -> float:
    """The longest a solve can take (DESIGN.md section 6): the time limit cap, the runner's
    grace before SIGKILL, and the heuristic run in the worker when the child produced nothing."""
    return settings.max_time_limit_seconds + DEFAULT_GRACE + HEURISTIC_MAX_SECONDS


def soft_time_limit(settings: Settings) -> int:
    return math.ceil(solver_wall_seconds(settings)) + TASK_OVERHEAD_SECONDS


def hard_time_limit(settings: Settings) -> int:
    return soft_time_limit(settings) + SOFT_TO_HARD_SECONDS


def visibility_timeout(settings: Settings) -> int:
    """Seconds before Redis redelivers an unacknowledged message (kombu's Redis transport).

    With acks_late a message stays unacknowledged for the whole task, and a reserved message
    may wait for the task before it: below 2 x the hard limit a healthy, running solve would be
    delivered a second time ("Redis: visibility timeout", userguide/configuration.rst and
    getting-started/backends-and-brokers/redis.rst).
    """
    return max(MIN_VISIBILITY_TIMEOUT, 3 * hard_time_limit(settings))


def stuck_running_seconds(settings: Settings) -> int:
    """How long a job may stay `running` before the sweep sends it to the workers again."""
    return hard_time_limit(settings) + STUCK_MARGIN_SECONDS


def beat_schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """The periodic tasks, run by `celery -A workers.app beat` (one beat per deployment).

    Each message expires if no worker takes it before the next few runs: a beat that keeps
    firing while the light workers are away must not leave a pile of stale sweeps behind.
    """
    relay = settings.outbox_relay_interval_seconds

    def entry(task: str, every: float) -> dict[str, Any]:
        expires = max(5 * every, 10.0)
        return {
            "task": task,
            "schedule": every,
            "options": {"queue": LIGHT_QUEUE, "expires": expires},
        }

    return {
        "relay-outbox": entry(RELAY_OUTBOX_TASK, relay),
        "requeue-stuck-jobs": entry(REQUEUE_STUCK_TASK, STUCK_SWEEP_SECONDS),
        "purge-expired": entry(PURGE_EXPIRED_TASK, RETENTION_SECONDS),
        "sweep-webhooks": entry(SWEEP_WEBHOOKS_TASK, WEBHOOK_SWEEP_SECONDS),
    }


def broker_url(settings: Settings) -> str:
    """ROTA_BROKER_URL, else REDIS_URL; raises SettingsError when there is neither.

    Settings.from_env applies the same default; a Settings built in code (tests, `rota dev up`)
    may set only `redis_url`.
    """
    url = settings.redis_url if settings.broker_url is None else settings.broker_url
    if url and url.startswith("unix://"):
        # redis-py's scheme for a socket, which kombu does not know (it wants redis+socket://).
        raise SettingsError(
            "Celery cannot use a unix:// Redis URL: set ROTA_BROKER_URL=redis+socket:///path"
        )
    return url or settings.require_broker_url()


def celery_config(settings: Settings) -> dict[str, Any]:
    """Every Celery setting of Rota; raises SettingsError when no broker is configured."""
    return {
        "broker_url": broker_url(settings),
        "broker_connection_retry_on_startup": True,
        "broker_transport_options": {"visibility_timeout": visibility_timeout(settings)},
        # JSON only: a pickle accepted from the broker would run code chosen by whoever can
        # write to Redis (userguide/security.rst, "Serializers").
        "task_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        "result_accept_content": ["json"],
        # Results live in the database (run_job stores them); no result backend.
        "result_backend": None,
        "task_ignore_result": True,
        # Acknowledge after the task, so a solve whose worker dies is delivered again
        # (userguide/tasks.rst, "acks_late"); a pool process killed mid-solve is requeued too.
        # Celery warns that this can loop on a message that kills every worker: run_job keeps
        # an attempts count in the database and fails the job after ROTA_MAX_ATTEMPTS.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # One message per process at a time: a prefetched solve would wait behind a long one
        # while another worker idles ("Reserve one task at a time", userguide/optimizing.rst).
        "worker_prefetch_multiplier": 1,
        # A solve running when the broker connection drops goes on (Celery 5's default, made
        # explicit; Celery 6 will cancel): it stores its result in the database, and the copy
        # Redis redelivers after the visibility timeout finds the job finished and does
        # nothing. Cancelling would leave the job waiting for that copy, up to an hour.
        "worker_cancel_long_running_tasks_on_connection_loss": False,
        # Backstops above the runner's own kill (solver_wall_seconds); see the constants.
        "task_soft_time_limit": soft_time_limit(settings),
        "task_time_limit": hard_time_limit(settings),
        # One direct exchange per queue (without one, Celery binds every queue to the default
        # queue's exchange, which works but reads as if solves went to "light").
        "task_queues": (
            Queue(SOLVE_QUEUE, Exchange(SOLVE_QUEUE, type="direct"), routing_key=SOLVE_QUEUE),
            Queue(LIGHT_QUEUE, Exchange(LIGHT_QUEUE, type="direct"), routing_key=LIGHT_QUEUE),
        ),
        "task_default_queue": LIGHT_QUEUE,
        "task_routes": {SOLVE_TASK: {"queue": SOLVE_QUEUE}},
        # Prefork: a solve's Python work (decoding, scoring, the fallback heuristic) holds the
        # GIL, and a crash or a time-limit kill takes one process, not the worker.
        "worker_pool": "prefork",
        # Replace a pool process after the task that took it past 1 GiB resident: decoding a
        # 20 MB problem and building its roster leaves a fragmented heap behind, and a process
        # is never recycled mid-task (userguide/workers.rst, "Max memory per child").
        # No max-tasks-per-child: CP-SAT runs in its own child process, not in the pool.
        "worker_max_memory_per_child": 1024 * 1024,  # KiB
        # Events for Flower come from the workers: a task appears there once a worker has
        # received it. Producers send no task-sent event: it is a second broker publish on
        # every submit, a fifth of the API's work for POST /v1/jobs (`make bench-api`), and
        # queued jobs are visible anyway (GET /v1/jobs?status=queued, Flower's Broker tab).
        "worker_send_task_events": True,
        "task_send_sent_event": False,
        # Logging stays the application's: Celery only adds its handlers.
        "worker_hijack_root_logger": False,
        "worker_log_format": LOG_FORMAT,
        "worker_task_log_format": TASK_LOG_FORMAT,
        "enable_utc": True,
        "timezone": "UTC",
        "beat_schedule": beat_schedule(settings),
        "beat_schedule_filename": str(settings.data_dir / BEAT_SCHEDULE_FILE),
    }
