"""Flower as workers.flower starts it: every page and the HTTP API need the credentials."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from domain.settings import Settings
from workers.flower import flower_command

pytestmark = pytest.mark.integration

USER, PASSWORD = "ops", "a-long-test-password"
# Not a timing assertion: how long Flower may take to listen before the test is called hung.
START_DEADLINE_SECONDS = 60.0
STOP_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope="module")
def flower(redis_url, tmp_path_factory) -> Iterator[str]:
    port = free_port()
    settings = Settings(
        redis_url=redis_url, flower_port=port, flower_basic_auth=f"{USER}:{PASSWORD}"
    )
    argv, env = flower_command(settings)
    tmp_path = tmp_path_factory.mktemp("flower")
    log = tmp_path / "flower.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + START_DEADLINE_SECONDS
        while not listening(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"Flower did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=STOP_SECONDS)


@pytest.mark.parametrize("path", ["/", "/api/workers"])
def test_flower_answers_401_without_credentials(flower, path):
    assert httpx.get(flower + path, timeout=30).status_code == 401


@pytest.mark.parametrize("path", ["/", "/api/workers"])
def test_flower_answers_401_with_a_wrong_password(flower, path):
    response = httpx.get(flower + path, auth=(USER, "not-the-password"), timeout=30)

    assert response.status_code == 401


@pytest.mark.parametrize("path", ["/", "/api/workers"])
def test_flower_answers_200_with_the_credentials(flower, path):
    assert httpx.get(flower + path, auth=(USER, PASSWORD), timeout=30).status_code == 200
