"""structlog logging (domain/adapters/telemetry/logging.py): one chain for every logger, JSON
lines in production, console lines for people, the correlation id on every line."""

from __future__ import annotations

import io
import json
import logging
import warnings
from collections.abc import Iterator

import pytest
import structlog

from domain.adapters.telemetry import configure_logging
from domain.adapters.telemetry.logging import LIBRARY_LOGGERS
from domain.cli import devstack
from domain.settings import Settings

KEY = "rota_" + "k" * 43


class Correlation:
    """The getter a process passes in (the request id, the task's correlation id)."""

    def __init__(self) -> None:
        self.value = "-"

    def __call__(self) -> str:
        return self.value


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """configure_logging changes process-wide state: put it back for the next tests."""
    root = logging.getLogger()
    saved_root = (root.handlers[:], root.level)
    saved = {
        name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
        for name in LIBRARY_LOGGERS
    }
    yield
    root.handlers[:] = saved_root[0]
    root.setLevel(saved_root[1])
    for name, (handlers, propagate) in saved.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate
    logging.captureWarnings(False)
    structlog.reset_defaults()


@pytest.fixture
def correlation() -> Correlation:
    return Correlation()


def configure(correlation: Correlation, **settings: str) -> io.StringIO:
    out = io.StringIO()
    configure_logging(Settings(**settings), correlation, stream=out)
    return out


def json_lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


@pytest.mark.usefixtures("restore_logging")
def test_library_and_own_loggers_all_write_json_lines_with_the_same_keys(correlation):
    # uvicorn gives its access logger a handler of its own and stops propagation; those
    # lines must reach the one handler too.
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler(io.StringIO()))
    access.propagate = False
    out = configure(correlation)
    correlation.value = "req-123"

    access.info('%s - "%s %s HTTP/1.1" %d', "127.0.0.1:5000", "GET", "/v1/jobs", 200)
    logging.getLogger("celery.app.trace").info("Task rota.solve_job[abc] succeeded in 1.2s")
    logging.getLogger("sqlalchemy.pool").warning("pool overflow")
    structlog.get_logger("domain.services").info("job solved", job="j-1")

    lines = json_lines(out)
    assert [line["logger"] for line in lines] == [
        "uvicorn.access",
        "celery.app.trace",
        "sqlalchemy.pool",
        "domain.services",
    ]
    for line in lines:
        assert {"timestamp", "level", "logger", "event", "correlation_id"} <= line.keys()
        assert line["correlation_id"] == "req-123"
    assert lines[0]["event"] == '127.0.0.1:5000 - "GET /v1/jobs HTTP/1.1" 200'
    assert [line["level"] for line in lines] == ["info", "info", "warning", "info"]
    assert lines[3]["job"] == "j-1"
    assert lines[0]["timestamp"].endswith("Z")  # ISO 8601, UTC


@pytest.mark.usefixtures("restore_logging")
def test_outside_a_request_the_correlation_id_is_null(correlation):
    out = configure(correlation)

    logging.getLogger("celery.worker").info("ready")

    assert json_lines(out)[0]["correlation_id"] is None


@pytest.mark.usefixtures("restore_logging")
def test_an_id_passed_with_the_record_wins_over_the_getter(correlation):
    # api/errors.py logs from Litestar's app-level handler with extra={"request_id": ...};
    # the worker's record factory puts correlation_id on every record.
    out = configure(correlation)
    correlation.value = "ambient"
    log = logging.getLogger("api.errors")

    log.error("unhandled", extra={"request_id": "explicit-1"})
    log.error("unhandled", extra={"correlation_id": "explicit-2"})

    assert [line["correlation_id"] for line in json_lines(out)] == ["explicit-1", "explicit-2"]


@pytest.mark.usefixtures("restore_logging")
def test_an_exception_is_one_json_line_with_its_traceback_as_text(correlation):
    out = configure(correlation)
    try:
        raise ValueError("line one\nline two")
    except ValueError:
        logging.getLogger("api.errors").exception("failed")

    [line] = json_lines(out)  # the newlines are inside the JSON string
    assert line["level"] == "error"
    assert "Traceback (most recent call last)" in line["exception"]
    assert "ValueError: line one\nline two" in line["exception"]


@pytest.mark.usefixtures("restore_logging")
def test_secrets_never_reach_a_log_line(correlation):
    out = configure(correlation)
    log = logging.getLogger("uvicorn.access")

    log.info('"GET /v1/jobs?api_key=%s&limit=5 HTTP/1.1" 200', KEY)
    try:
        raise RuntimeError("cannot reach postgresql://rota:hunter2-secret@db.internal/rota")
    except RuntimeError:
        log.exception("Authorization: Bearer %s", KEY)

    text = out.getvalue()
    assert KEY not in text
    assert "hunter2-secret" not in text
    assert "limit=5" in text  # only the secret is cut, not the line
    assert "postgresql://rota:[Filtered]@db.internal/rota" in text


@pytest.mark.usefixtures("restore_logging")
@pytest.mark.parametrize(
    ("level", "shown"),
    [("DEBUG", ["debug", "info", "warning"]), ("WARNING", ["warning"])],
)
def test_the_level_setting_applies_to_stdlib_and_structlog_loggers(correlation, level, shown):
    out = configure(correlation, log_level=level)
    log = logging.getLogger("rota.level_test")  # no level of its own: the setting decides

    log.debug("d")
    log.info("i")
    log.warning("w")
    structlog.get_logger("rota").debug("native debug")

    levels = [line["level"] for line in json_lines(out)]
    expected = shown + (["debug"] if level == "DEBUG" else [])
    assert levels == expected


@pytest.mark.usefixtures("restore_logging")
def test_console_format_is_for_people_and_keeps_the_correlation_id(correlation):
    out = configure(correlation, log_format="console")
    correlation.value = "req-9"

    logging.getLogger("uvicorn.error").warning("something odd")

    text = out.getvalue()
    assert not text.lstrip().startswith("{")
    assert "something odd" in text
    assert "correlation_id=req-9" in text
    assert "\x1b[" not in text  # no colour codes when the stream is not a terminal


@pytest.mark.usefixtures("restore_logging")
def test_a_python_warning_is_a_json_line_too(correlation):
    out = configure(correlation)

    warnings.warn("this API is going away", UserWarning, stacklevel=1)

    [line] = json_lines(out)
    assert line["logger"] == "py.warnings"
    assert "this API is going away" in line["event"]


@pytest.mark.usefixtures("restore_logging")
def test_configuring_twice_leaves_one_handler(correlation):
    configure(correlation)
    out = configure(correlation)

    logging.getLogger("rota").warning("once")

    assert len(logging.getLogger().handlers) == 1
    assert len(json_lines(out)) == 1


@pytest.mark.parametrize(
    ("caller", "children"), [({}, "console"), ({"ROTA_LOG_FORMAT": "json"}, "json")]
)
def test_dev_up_children_log_for_people_unless_told_otherwise(tmp_path, caller, children):
    stack = devstack.plan(Settings.from_env({"ROTA_DATA_DIR": str(tmp_path)}))

    env = devstack.child_env(stack, caller)

    assert env["ROTA_LOG_FORMAT"] == children
    assert Settings.from_env(env).log_format == children
