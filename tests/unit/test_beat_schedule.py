"""The beat schedule of the reliable pipeline (domain.adapters.celery_config.beat_schedule)
and the tasks it names (workers/tasks.py)."""

from __future__ import annotations

import ast
from pathlib import Path

from domain.adapters.celery_config import (
    LIGHT_QUEUE,
    PURGE_EXPIRED_TASK,
    RELAY_OUTBOX_TASK,
    REQUEUE_STUCK_TASK,
    beat_schedule,
    celery_config,
    hard_time_limit,
    stuck_running_seconds,
)
from domain.settings import Settings

BROKER = "redis://127.0.0.1:6379/15"
TASKS = Path(__file__).parents[2] / "workers" / "tasks.py"


def settings(**fields) -> Settings:
    return Settings(redis_url=BROKER, **fields)


def test_the_relay_runs_at_the_configured_interval_and_the_sweeps_less_often():
    schedule = beat_schedule(settings(outbox_relay_interval_seconds=0.5))
    by_task = {entry["task"]: entry for entry in schedule.values()}

    assert set(by_task) >= {RELAY_OUTBOX_TASK, REQUEUE_STUCK_TASK, PURGE_EXPIRED_TASK}
    assert by_task[RELAY_OUTBOX_TASK]["schedule"] == 0.5
    assert by_task[REQUEUE_STUCK_TASK]["schedule"] > 0.5
    assert by_task[PURGE_EXPIRED_TASK]["schedule"] >= by_task[REQUEUE_STUCK_TASK]["schedule"]


def test_beat_messages_go_to_the_light_queue_and_expire_rather_than_pile_up():
    for entry in beat_schedule(settings()).values():
        assert entry["options"]["queue"] == LIGHT_QUEUE
        assert entry["options"]["expires"] >= entry["schedule"]


def test_a_running_job_counts_as_stuck_only_after_the_hard_time_limit():
    for limit in (5.0, 30.0, 600.0):
        s = settings(max_time_limit_seconds=limit)
        assert stuck_running_seconds(s) > hard_time_limit(s)


def test_the_schedule_and_its_state_file_are_in_the_celery_settings(tmp_path):
    conf = celery_config(settings(data_dir=tmp_path))
    assert conf["beat_schedule"] == beat_schedule(settings(data_dir=tmp_path))
    assert Path(conf["beat_schedule_filename"]).parent == tmp_path


def test_every_scheduled_task_is_defined_by_the_workers():
    # Read, not imported: importing workers.tasks builds the Celery app from the environment.
    tree = ast.parse(TASKS.read_text())
    names = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.keyword) and node.arg == "name"
        for node in [node.value]
        if isinstance(node, ast.Name)
    }
    assert {"RELAY_OUTBOX_TASK", "REQUEUE_STUCK_TASK", "PURGE_EXPIRED_TASK"} <= names
