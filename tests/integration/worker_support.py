"""A real Celery worker (prefork) on the test PostgreSQL database and Redis broker, for the
worker tests: jobs are stored through the SQL unit of work and published with CeleryJobQueue,
as the API does, and the outcome is read back from the database.

The worker takes one message at a time (concurrency 1, prefetch 1, acks_late) from a FIFO Redis
list, so once a job published later has finished, every message published before it has been
handled.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import msgspec
import pytest
import redis
from celery import Celery

from domain.adapters.celery_config import LIGHT_QUEUE, SOLVE_QUEUE
from domain.adapters.celery_queue import CeleryJobQueue, make_producer_app
from domain.adapters.db.engine import make_engine
from domain.adapters.db.uow import sql_uow_factory
from domain.jobs import Job, JobStatus
from domain.ports import UnitOfWorkFactory
from domain.problem import Problem, problem_decoder, solution_decoder
from domain.settings import Settings
from domain.solver.cache_key import cache_key
from domain.tenancy import Tenant

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "domain" / "samples" / "sample.json"
# Not a timing assertion: how long to wait for a 2-second solve before calling the test hung.
JOB_DEADLINE_SECONDS = 180.0
STOP_SECONDS = 30.0

T = TypeVar("T")


@dataclass
class Platform:
    uow_factory: UnitOfWorkFactory
    producer: Celery
    queue: CeleryJobQueue
    tenant_id: uuid.UUID
    log: Path
    worker: subprocess.Popen[bytes]

    def submit(self, problem: Problem, correlation_id: str = "test") -> uuid.UUID:
        """Store a queued job (committed), then publish it: the order of submit_job."""
        job = Job(
            id=uuid.uuid4(),
            tenant_id=self.tenant_id,
            status=JobStatus.QUEUED,
            created_at=dt.datetime.now(dt.UTC),
            correlation_id=correlation_id,
            cache_key=cache_key(problem),
            time_limit_seconds=problem.options.time_limit_seconds,
        )
        with self.uow_factory() as uow:
            uow.jobs.add(job, problem)
            uow.commit()
        self.queue.enqueue_solve(job.id, correlation_id)
        return job.id

    def job(self, job_id: uuid.UUID) -> Job:
        with self.uow_factory() as uow:
            job = uow.jobs.get(job_id)
        assert job is not None
        return job

    def wait_finished(self, job_id: uuid.UUID) -> Job:
        return self.wait_until(job_id, lambda job: job.status.finished, f"see job {job_id} finish")

    def wait_until(self, job_id: uuid.UUID, reached: Callable[[Job], bool], what: str) -> Job:
        """Read the job until `reached(job)`."""
        return self.wait_for(lambda: job if reached(job := self.job(job_id)) else None, what)

    def wait_for(self, probe: Callable[[], T | None], what: str) -> T:
        """Call `probe` until it returns something truthy; fail if the worker exits first, or
        if nothing happens for so long that the test must be hung."""
        deadline = time.monotonic() + JOB_DEADLINE_SECONDS
        while time.monotonic() < deadline:
            found = probe()
            if found:
                return found
            if self.worker.poll() is not None:
                pytest.fail(f"the worker exited ({self.worker.returncode}):\n{self.log_tail()}")
            time.sleep(0.1)
        pytest.fail(f"timed out waiting to {what}:\n{self.log_tail()}")

    def assignments(self, job_id: uuid.UUID) -> list:
        with self.uow_factory() as uow:
            return uow.assignments.page(job_id, date=None, employee=None, after=None, limit=100_000)

    def solution(self, job_id: uuid.UUID):
        with self.uow_factory() as uow:
            body = uow.jobs.solution_json(job_id, self.tenant_id)
        assert body is not None
        return solution_decoder.decode(body)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


def tiny_problem(*, use_cache: bool = True, time_limit: float = 2.0) -> Problem:
    """The sample ward with a short limit and a seed of its own, so no earlier run's cache
    entry (same key) can answer it."""
    problem = problem_decoder.decode(SAMPLE.read_bytes())
    options = msgspec.structs.replace(
        problem.options,
        time_limit_seconds=time_limit,
        seed=random.randrange(1, 2**31),
        use_cache=use_cache,
    )
    return msgspec.structs.replace(problem, options=options)


def children(pid: int) -> list[int]:
    """PIDs of the live processes whose parent is `pid` (from /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            # The command name (field 2) may hold spaces; the parent PID follows its ")".
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid and fields[0] != "Z":
                found.append(int(stat.parent.name))
    return found


def start_worker(
    postgres_url: str, redis_url: str, log: Path, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("ROTA_", "FLOWER_"))},
        "DATABASE_URL": postgres_url,
        "REDIS_URL": redis_url,
        "ROTA_SOLVER_WORKERS": "2",
        **(extra_env or {}),
    }
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "workers.app",
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        f"--queues={SOLVE_QUEUE},{LIGHT_QUEUE}",
        "--loglevel=INFO",
        f"--hostname=test-{uuid.uuid4().hex[:8]}@%h",
        "--without-gossip",
        "--without-mingle",
    ]
    with log.open("wb") as out:
        # Its own session: if SIGTERM is not enough, SIGKILL reaches the pool children too.
        return subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Warm shutdown (SIGTERM), then SIGKILL to the worker's own process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=STOP_SECONDS)


@contextlib.contextmanager
def running_platform(
    postgres_url: str, redis_url: str, log: Path, extra_env: dict[str, str] | None = None
) -> Iterator[Platform]:
    """A tenant of its own and a worker; the worker is stopped on the way out."""
    # Messages left in the queues by earlier tests (published with no worker running) would be
    # consumed first and could name jobs of any size.
    client = redis.Redis.from_url(redis_url)
    client.delete(SOLVE_QUEUE, LIGHT_QUEUE)
    client.close()
    settings = Settings(redis_url=redis_url)
    engine = make_engine(settings, url=postgres_url)
    uow_factory = sql_uow_factory(engine)
    tenant = Tenant(
        id=uuid.uuid4(), name=f"worker-{uuid.uuid4().hex[:8]}", created_at=dt.datetime.now(dt.UTC)
    )
    with uow_factory() as uow:
        uow.tenants.add(tenant)
        uow.commit()
    producer = make_producer_app(settings)
    queue = CeleryJobQueue(producer)
    worker = start_worker(postgres_url, redis_url, log, extra_env)
    try:
        yield Platform(uow_factory, producer, queue, tenant.id, log, worker)
    finally:
        stop(worker)
        queue.close()
        engine.dispose()
