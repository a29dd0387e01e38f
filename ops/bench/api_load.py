"""`make bench-api`: throughput and latency of the API on PostgreSQL + Redis, and how long a
job takes from submission to `succeeded`.

Everything runs as real processes on this machine: uvicorn serving the API, a bare Litestar
hello-world served the same way (the ceiling), a Celery worker, and locust (its own process)
as the load generator. Figures go to stdout and to var/bench-api.json.

Environment: BENCH_DATABASE_URL (an admin URL; the benchmark creates and drops its own
database `rota_bench` there; default the local PostgreSQL), BENCH_REDIS_URL (default
redis://127.0.0.1:6379/9, flushed).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from pathlib import Path

import httpx
import msgspec
import psycopg
import redis
from sqlalchemy.engine import make_url

from domain.adapters.db.engine import make_engine
from domain.adapters.db.migrate import upgrade
from domain.adapters.db.uow import sql_uow_factory
from domain.formats.curtois import load_problem_file
from domain.services.tenants import create_api_key, create_tenant
from domain.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SAMPLE = ROOT / "domain" / "samples" / "sample.json"
DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BENCH_DB = "rota_bench"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--duration", type=int, default=20, help="seconds per load scenario")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--curtois", type=Path, default=ROOT.parent / "shared/bench/curtois")
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "var/bench-api.json")
    args = parser.parse_args()

    database_url = fresh_database(os.environ.get("BENCH_DATABASE_URL", DEFAULT_ADMIN_URL))
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/9")
    redis.Redis.from_url(redis_url).flushdb()
    upgrade(database_url)
    api_key = issue_key(database_url)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "ROTA_DATA_DIR": str(ROOT / "var/bench"),
        "ROTA_DB_POOL_SIZE": "20",
        # 32 clients share one key: limits wide enough never to bind, but still charged, so
        # the limiter's round trip is part of what is measured.
        "ROTA_RATE_LIMIT_API": "1000000/second",
        "ROTA_RATE_LIMIT_SUBMIT": "1000000/second",
    }
    api, hello = "http://127.0.0.1:18000", "http://127.0.0.1:18001"
    # The same API with no change feed: every poll of an unfinished job reads the database.
    api_no_feed = "http://127.0.0.1:18002"
    results: dict[str, object] = {"users": args.users, "duration_s": args.duration}
    with ExitStack() as stack:
        uvicorn = [
            *(str(BIN / "uvicorn"), "--factory", "--no-access-log", "--log-level", "warning"),
            *("--no-server-header", "--no-proxy-headers"),
        ]
        workers = ["--workers", str(args.api_workers), "--host", "127.0.0.1"]
        stack.enter_context(
            start([*uvicorn, *workers, "--port", "18000", "api.app:create_app"], env)
        )
        stack.enter_context(
            start(
                [*uvicorn, *workers, "--port", "18002", "api.app:create_app"],
                {**env, "ROTA_DB_CHANGE_FEED": "off"},
            )
        )
        stack.enter_context(
            start(
                [
                    *uvicorn,
                    *workers,
                    "--port",
                    "18001",
                    "--app-dir",
                    "ops/bench",
                    "hello_app:create_app",
                ],
                env,
            )
        )
        worker = stack.enter_context(
            start(
                [
                    str(BIN / "celery"),
                    "-A",
                    "workers.app",
                    "worker",
                    "-Q",
                    "solve,light",
                    "-c",
                    "1",
                    "--loglevel",
                    "warning",
                ],
                env,
            )
        )
        wait_ready(f"{api}/health/ready")
        wait_ready(f"{api_no_feed}/health/ready")
        wait_ready(f"{hello}/hello")
        client = httpx.Client(base_url=api, headers={"Authorization": f"Bearer {api_key}"})
        results["instance1_submit_to_succeeded_s"] = fresh_solves(client, args.curtois)
        results["cache_hit_submit_to_succeeded_s"], finished_id = cache_hits(client)
        stop(worker)  # the load scenarios measure the API alone, not the API beside a solver
        queued = client.post(
            "/v1/jobs", content=SAMPLE.read_bytes(), headers={"Content-Type": "application/json"}
        ).json()["id"]  # stays queued: no worker is left to take it
        with tempfile.NamedTemporaryFile(suffix=".json") as body:
            body.write(SAMPLE.read_bytes())
            body.flush()
            common = {
                "BENCH_API_KEY": api_key,
                "BENCH_JOB_ID": finished_id,
                "BENCH_BODY_FILE": body.name,
                "BENCH_QUEUED_ID": queued,
            }
            scenarios = (
                ("hello", "hello", hello),
                ("get_job", "get_job", api),
                ("get_queued", "get_queued", api),
                ("get_queued_no_feed", "get_queued", api_no_feed),
                ("post_job", "post_job", api),
            )
            for key, scenario, host in scenarios:
                # While an unfinished job is polled, its row changes once a second, as a
                # running job's progress does (ROTA_PROGRESS_INTERVAL).
                with touching(database_url, queued) if scenario == "get_queued" else nullcontext():
                    results[key] = locust(scenario, host, args, {**env, **common})
    report(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


@contextmanager
def touching(database_url: str, job_id: str, every: float = 1.0) -> Iterator[None]:
    """Update the job's row every `every` seconds (a no-op UPDATE still fires the change
    trigger, as a progress write does) until the block ends."""
    plain = make_url(database_url).set(drivername="postgresql")
    done = threading.Event()

    def touch() -> None:
        with psycopg.connect(plain.render_as_string(hide_password=False), autocommit=True) as c:
            while not done.wait(every):
                c.execute("UPDATE jobs SET attempts = attempts WHERE id = %s", (job_id,))

    thread = threading.Thread(target=touch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def fresh_database(admin_url: str) -> str:
    url = make_url(admin_url).set(drivername="postgresql+psycopg")
    plain = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    return url.set(database=BENCH_DB).render_as_string(hide_password=False)


def issue_key(database_url: str) -> str:
    settings = Settings.from_env({"DATABASE_URL": database_url})
    engine = make_engine(settings)
    uow = sql_uow_factory(engine)
    clock = _utc_now
    create_tenant("bench", uow, clock)
    secret = create_api_key("bench", uow, clock).secret
    engine.dispose()
    return secret


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class start:
    """A child process in its own group, stopped (TERM, then KILL) on exit."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True)

    def __enter__(self) -> subprocess.Popen:
        return self.proc

    def __exit__(self, *exc: object) -> None:
        stop(self.proc)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def wait_ready(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{url} did not become ready within {timeout:.0f} s")


def submit_and_wait(client: httpx.Client, body: bytes, timeout: float = 60.0) -> tuple[float, dict]:
    started = time.perf_counter()
    response = client.post("/v1/jobs", content=body, headers={"Content-Type": "application/json"})
    response.raise_for_status()
    job_id = response.json()["id"]
    while time.perf_counter() - started < timeout:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return time.perf_counter() - started, job
        time.sleep(0.005)
    raise SystemExit(f"job {job_id} did not finish within {timeout:.0f} s")


def fresh_solves(client: httpx.Client, curtois: Path) -> dict[str, object]:
    """Instance1 solved from scratch three times (a new seed each time defeats the cache)."""
    problem = load_problem_file(curtois / "Instance1.txt")
    walls, outcomes = [], []
    for seed in (1, 2, 3):
        options = msgspec.structs.replace(problem.options, seed=seed, time_limit_seconds=10.0)
        body = msgspec.json.encode(msgspec.structs.replace(problem, options=options))
        wall, job = submit_and_wait(client, body)
        walls.append(round(wall, 3))
        summary = job.get("summary") or {}
        outcomes.append(f"{job['status']} {summary.get('solver')} {summary.get('objective')}")
    return {"runs": walls, "median": statistics.median(walls), "outcomes": outcomes}


def cache_hits(client: httpx.Client, runs: int = 20) -> tuple[dict[str, object], str]:
    body = SAMPLE.read_bytes()
    _, first = submit_and_wait(client, body)  # fills the cache
    walls, solvers = [], set()
    for _ in range(runs):
        wall, job = submit_and_wait(client, body)
        walls.append(wall)
        solvers.add((job.get("summary") or {}).get("solver"))
    walls.sort()
    stats = {
        "runs": runs,
        "p50": round(statistics.median(walls), 4),
        "max": round(walls[-1], 4),
        "solvers": sorted(str(s) for s in solvers),
    }
    return stats, first["id"]


def locust(scenario: str, host: str, args: argparse.Namespace, env: dict[str, str]) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / scenario
        subprocess.run(
            [
                str(BIN / "locust"),
                "-f",
                str(ROOT / "ops/bench/locustfile.py"),
                "--headless",
                "-u",
                str(args.users),
                "-r",
                str(args.users),
                "-t",
                f"{args.duration}s",
                "--host",
                host,
                "--csv",
                str(prefix),
                "--only-summary",
                "--loglevel",
                "WARNING",
            ],
            env={**env, "BENCH_SCENARIO": scenario},
            cwd=ROOT,
            check=False,
            stdout=subprocess.DEVNULL,
        )
        with open(f"{prefix}_stats.csv", newline="") as handle:
            row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return {
        "requests": int(row["Request Count"]),
        "failures": int(row["Failure Count"]),
        "rps": round(float(row["Requests/s"]), 1),
        "p50_ms": float(row["50%"]),
        "p95_ms": float(row["95%"]),
        "p99_ms": float(row["99%"]),
    }


def report(results: dict) -> None:
    hello, get, post = results["hello"], results["get_job"], results["post_job"]
    queued, no_feed = results["get_queued"], results["get_queued_no_feed"]
    print(f"\n{results['users']} concurrent clients, {results['duration_s']} s per scenario")
    print(f"{'scenario':<26}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'failed':>8}")
    rows = (
        ("hello-world", hello),
        ("GET job (finished)", get),
        ("GET job (live)", queued),
        ("GET job (live, no feed)", no_feed),
        ("POST /v1/jobs", post),
    )
    for name, row in rows:
        print(
            f"{name:<26}{row['rps']:>9.1f}{row['p50_ms']:>9.0f}{row['p95_ms']:>9.0f}"
            f"{row['p99_ms']:>9.0f}{row['failures']:>8}"
        )
    ceiling = max(hello["rps"], 1e-9)
    print(
        f"GET rate / hello-world rate: finished {get['rps'] / ceiling:.0%}, "
        f"live {queued['rps'] / ceiling:.0%}, live without the change feed "
        f"{no_feed['rps'] / ceiling:.0%}"
    )
    fresh, cached = (
        results["instance1_submit_to_succeeded_s"],
        results["cache_hit_submit_to_succeeded_s"],
    )
    print(
        f"Instance1 submit-to-succeeded: {fresh['runs']} s (median {fresh['median']} s)"
        f" {fresh['outcomes']}"
    )
    print(
        f"cache hit submit-to-succeeded: p50 {cached['p50'] * 1000:.0f} ms,"
        f" max {cached['max'] * 1000:.0f} ms over {cached['runs']} ({cached['solvers']})"
    )


if __name__ == "__main__":
    sys.exit(main())
