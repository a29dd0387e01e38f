"""The worker's correlation id on log records (workers.correlation)."""

from __future__ import annotations

import logging

import pytest

from domain.adapters.celery_queue import CORRELATION_HEADER
from workers import correlation


class FakeRequest(dict):
    """Celery's task Context answers `get` like a dict."""


class FakeTask:
    def __init__(self, headers: dict) -> None:
        self.request = FakeRequest(headers)


@pytest.fixture
def records(monkeypatch) -> list[logging.LogRecord]:
    previous = logging.getLogRecordFactory()
    monkeypatch.setattr(correlation, "_installed", False)
    correlation.install_log_record_factory()
    logger = logging.getLogger("tests.correlation")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield seen
    logger.removeHandler(handler)
    logging.setLogRecordFactory(previous)
    correlation.on_task_postrun()


def test_a_task_logs_with_the_correlation_id_of_its_message(records):
    correlation.on_task_prerun(task=FakeTask({CORRELATION_HEADER: "req-42"}))
    logging.getLogger("tests.correlation").info("inside")
    correlation.on_task_postrun()
    logging.getLogger("tests.correlation").info("after")

    assert [r.correlation_id for r in records] == ["req-42", correlation.NONE]


def test_a_message_without_the_header_logs_none(records):
    correlation.on_task_prerun(task=FakeTask({}))
    logging.getLogger("tests.correlation").info("inside")

    assert records[0].correlation_id == correlation.NONE


def test_a_header_cannot_break_a_log_line(records):
    correlation.on_task_prerun(task=FakeTask({CORRELATION_HEADER: "a\nforged line" + "x" * 500}))
    logging.getLogger("tests.correlation").info("inside")

    assert "\n" not in records[0].correlation_id
    assert len(records[0].correlation_id) <= 128
