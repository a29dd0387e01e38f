"""The Celery settings for long solves (domain.adapters.celery_config, celeryconfig.py)."""

from __future__ import annotations

import importlib
import sys

import pytest

from domain.adapters.celery_config import (
    LIGHT_QUEUE,
    SOLVE_QUEUE,
    SOLVE_TASK,
    celery_config,
)
from domain.settings import Settings, SettingsError, get_settings
from domain.solver.child import HEURISTIC_MAX_SECONDS
from domain.solver.runner import DEFAULT_GRACE

BROKER = "redis://127.0.0.1:6379/15"


def config_for(max_time_limit: float = 30.0) -> dict:
    return celery_config(
        Settings(redis_url=BROKER, broker_url=BROKER, max_time_limit_seconds=max_time_limit)
    )


@pytest.mark.parametrize("max_time_limit", [0.5, 30.0, 600.0, 7200.0])
def test_time_limits_are_ordered_above_the_solvers_own_kill(max_time_limit):
    conf = config_for(max_time_limit)
    solver_kill = max_time_limit + DEFAULT_GRACE + HEURISTIC_MAX_SECONDS
    visibility = conf["broker_transport_options"]["visibility_timeout"]

    assert visibility >= 2 * conf["task_time_limit"]
    assert conf["task_time_limit"] > conf["task_soft_time_limit"] > solver_kill


def test_a_worker_that_dies_gets_its_message_redelivered():
    conf = config_for()

    assert conf["task_acks_late"] is True
    assert conf["task_reject_on_worker_lost"] is True
    assert conf["worker_prefetch_multiplier"] == 1


def test_only_json_crosses_the_broker_and_no_result_backend_is_used():
    conf = config_for()

    assert conf["task_serializer"] == "json"
    assert conf["accept_content"] == ["json"]
    assert conf["result_backend"] is None
    assert conf["task_ignore_result"] is True


def test_solves_go_to_their_own_queue_and_everything_else_to_light():
    conf = config_for()

    assert {q.name for q in conf["task_queues"]} == {SOLVE_QUEUE, LIGHT_QUEUE}
    assert conf["task_routes"][SOLVE_TASK] == {"queue": SOLVE_QUEUE}
    assert conf["task_default_queue"] == LIGHT_QUEUE


def test_workers_are_prefork_send_events_and_leave_the_root_logger_alone():
    conf = config_for()

    assert conf["worker_pool"] == "prefork"
    assert conf["worker_send_task_events"] is True
    assert conf["broker_connection_retry_on_startup"] is True
    assert conf["worker_hijack_root_logger"] is False


def test_no_broker_fails_at_once():
    with pytest.raises(SettingsError, match="broker"):
        celery_config(Settings())


def test_the_celeryconfig_module_takes_its_values_from_the_environment(monkeypatch):
    monkeypatch.setenv("REDIS_URL", BROKER)
    monkeypatch.setenv("ROTA_MAX_TIME_LIMIT", "90")
    monkeypatch.delenv("ROTA_BROKER_URL", raising=False)
    monkeypatch.delitem(sys.modules, "celeryconfig", raising=False)
    get_settings.cache_clear()
    try:
        module = importlib.import_module("celeryconfig")
        expected = celery_config(Settings.from_env())
    finally:
        get_settings.cache_clear()
        sys.modules.pop("celeryconfig", None)

    assert module.broker_url == BROKER
    assert module.task_time_limit == expected["task_time_limit"]
    assert module.task_soft_time_limit > 90 + DEFAULT_GRACE


def test_the_broker_defaults_to_redis_when_settings_are_built_in_code():
    assert celery_config(Settings(redis_url=BROKER))["broker_url"] == BROKER


def test_a_unix_socket_redis_url_is_refused_as_a_broker_with_the_fix_named():
    with pytest.raises(SettingsError, match="redis\\+socket"):
        celery_config(Settings(redis_url="unix:///run/redis.sock"))
