"""The platform as real processes for end-to-end tests: uvicorn serving the API and a Celery
worker (prefork), on the harness's PostgreSQL database and Redis (STYLE.md 11: eager Celery is
no substitute for a real worker)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from domain.adapters.db.engine import make_engine
from domain.adapters.db.uow import sql_uow_factory
from domain.services.tenants import create_api_key, create_tenant
from domain.settings import Settings
from domain.tenancy import Role

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Stack:
    def __init__(
        self, database_url: str, redis_url: str, logs: Path, env: dict[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = logs
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "ROTA_DATA_DIR": str(logs),
            "ROTA_SOLVER_WORKERS": "4",
            # Tests poll jobs far faster than a person would; they test jobs, not limits
            # (tests/unit/test_api_rate_limit.py does). Auth keeps its default.
            "ROTA_RATE_LIMIT_API": "100000/minute",
            "ROTA_RATE_LIMIT_SUBMIT": "100000/minute",
            **(env or {}),
        }
        self.api: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    # --- tenants ------------------------------------------------------------------------------

    def api_key(self, tenant: str) -> str:
        """A fresh key of `tenant` (created on first use)."""
        engine = make_engine(Settings.from_env({"DATABASE_URL": self.database_url}))
        try:
            uow = sql_uow_factory(engine)
            with uow() as probe:
                exists = probe.tenants.get_by_name(tenant) is not None
            if not exists:
                create_tenant(tenant, uow, utc_now)
            # Admin: the end-to-end tests also manage webhooks (admins only).
            return create_api_key(tenant, uow, utc_now, role=Role.ADMIN).secret
        finally:
            engine.dispose()

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    # --- processes ----------------------------------------------------------------------------

    def _spawn(
        self, name: str, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("ab")
        return subprocess.Popen(
            argv,
            env={**self.env, **(env or {})},
            cwd=ROOT,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )

    def start_api(self, env: dict[str, str] | None = None) -> None:
        self.api = self._spawn(
            "api",
            [
                str(BIN / "uvicorn"),
                "--factory",
                "api.app:create_app",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
                # No `server: uvicorn` banner; X-Forwarded-For is the API's to judge.
                "--no-server-header",
                "--no-proxy-headers",
            ],
            env,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.api.poll() is not None:
                raise RuntimeError(f"the API exited: see {self.logs / 'api.log'}")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the API did not become ready within 60 s")

    def start_worker(self, env: dict[str, str] | None = None) -> None:
        self.worker = self._spawn(
            "worker",
            [
                str(BIN / "celery"),
                "-A",
                "workers.app",
                "worker",
                "--pool",
                "prefork",
                "-c",
                "1",
                "-Q",
                "solve,light",
                "--loglevel",
                "info",
            ],
            env,
        )

    def stop_api(self) -> None:
        _stop(self.api)
        self.api = None

    def stop_worker(self) -> None:
        _stop(self.worker)
        self.worker = None

    def stop(self) -> None:
        self.stop_worker()
        self.stop_api()

    # --- jobs ---------------------------------------------------------------------------------

    def wait_finished(self, client: httpx.Client, job_id: str, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["status"] in ("succeeded", "failed", "cancelled"):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


def _stop(proc: subprocess.Popen | None) -> None:
    """SIGTERM the process group (Celery's pool children included), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
