"""Redis crashed (SIGKILL) and started again on the same port while jobs are queued and one is
running (issue 5): nothing is lost once it is back.

Two configurations of the same throwaway Redis:

- no persistence (`appendonly no`, no snapshots): the crash loses every queued message, and
  the unacknowledged one of the running job. The running solve goes on in its worker
  (worker_cancel_long_running_tasks_on_connection_loss = False) and stores its result in the
  database; the queued jobs are found by the stuck-job sweep (ROTA_STUCK_QUEUED_SECONDS=8 here,
  600 by default), which gives each a new outbox message that the relay (beat) publishes.
  Beat runs the sweep once a minute; the test publishes it every few seconds instead.
- what production needs (docs/platform.md): `appendonly yes` (fsync always here; `everysec`
  loses at most a second), `maxmemory-policy noeviction`. The queued messages survive the crash
  and are consumed once the worker has reconnected; no sweep is needed (the queued threshold is
  left at its 10-minute default).
"""

from __future__ import annotations

import time

import pytest
import redis

from domain.adapters.celery_config import SOLVE_QUEUE
from tests.fault.support import (
    TERMINAL,
    Fleet,
    RestartableRedis,
    assert_written_once,
    problem_body,
    wait_for,
)
from tests.integration.webhook_receiver import Receiver
from tests.integration.worker_support import children

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("faults")]

JOBS = 5
SWEEP_EVERY_SECONDS = 4.0


@pytest.mark.parametrize("aof", [False, True], ids=["no-persistence", "aof"])
def test_queued_and_running_jobs_survive_a_redis_crash_and_restart(aof, fault_database, tmp_path):
    server = RestartableRedis(aof=aof).start()
    extra = {} if aof else {"ROTA_STUCK_QUEUED_SECONDS": "8"}
    fleet = Fleet(fault_database, server.url, tmp_path, extra)
    try:
        with Receiver() as receiver:
            _run(fleet, server, receiver, aof)
    finally:
        fleet.stop()
        server.stop()


def _run(fleet: Fleet, server: RestartableRedis, receiver: Receiver, aof: bool) -> None:
    fleet.start_api()
    fleet.start_beat()
    worker = fleet.start_worker()
    broker = redis.Redis.from_url(server.url)
    with fleet.client(fleet.api_key()) as client:
        fleet.register_webhook(client, receiver.url())
        ids = [
            fleet.submit(client, problem_body(seed, time_limit=2.0, use_cache=False))
            for seed in range(301, 301 + JOBS)
        ]

    def one_running_rest_queued() -> bool:
        fleet.assert_alive()
        pool = fleet.pool_of(worker)
        if pool is None or not children(pool):
            return False
        statuses = [r.status for r in fleet.rows(ids).values()]
        return statuses.count("running") == 1 and broker.llen(SOLVE_QUEUE) >= 2

    wait_for(one_running_rest_queued, "one job solving and the others queued in Redis")
    queued_before = broker.llen(SOLVE_QUEUE)
    broker.close()

    server.crash()
    time.sleep(1.0)
    server.start()
    crashed_at = time.monotonic()
    broker = redis.Redis.from_url(server.url)
    queued_after = broker.llen(SOLVE_QUEUE)
    broker.close()
    if aof:
        assert queued_after >= 1, "the append-only file kept no queued message"
    else:
        assert queued_after == 0, "a Redis without persistence kept its queue"

    sweeps = 0

    def all_terminal():
        nonlocal sweeps
        fleet.assert_alive()
        rows = fleet.rows(ids)
        if all(r.status in TERMINAL for r in rows.values()):
            return rows
        if not aof and time.monotonic() - crashed_at > sweeps * SWEEP_EVERY_SECONDS:
            fleet.send_stuck_sweep()  # what beat does once a minute
            sweeps += 1
        return None

    rows = wait_for(all_terminal, f"every job to finish (logs in {fleet.logs})")
    recovered = time.monotonic() - crashed_at

    assert [r.status for r in rows.values()] == ["succeeded"] * JOBS, [
        (r.status, r.error_code, r.error_detail) for r in rows.values()
    ]
    assert worker.poll() is None  # the worker rode out the outage
    outbox = fleet.outbox_counts(ids)
    if aof:
        assert set(outbox.values()) == {1}, outbox  # nothing needed publishing again
    else:
        # The lost ones got a second message from the sweep (the running one may too).
        assert sum(n > 1 for n in outbox.values()) >= queued_before - 1, outbox
    repeated = assert_written_once(fleet, rows, receiver)
    print(
        f"\nredis crash ({'aof' if aof else 'no persistence'}): {queued_before} queued "
        f"message(s) before, {queued_after} after the restart; all {JOBS} jobs succeeded "
        f"{recovered:.1f} s after it; attempts {sorted(r.attempts for r in rows.values())}; "
        f"outbox messages per job {sorted(outbox.values())}; sweeps published {sweeps}; "
        f"repeated webhook POSTs {repeated}"
    )
