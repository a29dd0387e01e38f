"""The job change feed on the real PostgreSQL: migration 0006's trigger notifies, the listener
hears it, says when it is up and down, reconnects, and leaves nothing behind."""

from __future__ import annotations

import queue
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy as sa

from domain.adapters.db.engine import make_engine
from domain.adapters.db.job_changes import (
    APPLICATION_NAME,
    CHANNEL,
    JobChangeListener,
    job_change_listener,
)
from domain.adapters.db.uow import sql_uow_factory
from domain.settings import Settings
from tests.integration import records

pytestmark = pytest.mark.integration

WAIT = 10.0  # seconds: generous, the events come within milliseconds


class Feed:
    """What a listener reported, in order: ("up",), ("down",) or ("changed", job id)."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple] = queue.Queue()

    def next(self) -> tuple:
        return self.events.get(timeout=WAIT)

    def quiet_for(self, seconds: float) -> bool:
        try:
            self.events.get(timeout=seconds)
        except queue.Empty:
            return True
        return False


@pytest.fixture
def engine(postgres_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(Settings(), url=postgres_url)
    yield engine
    engine.dispose()


def listener(engine: sa.Engine, feed: Feed, **options) -> JobChangeListener:
    return JobChangeListener(
        engine,
        on_change=lambda job_id: feed.events.put(("changed", job_id)),
        on_up=lambda: feed.events.put(("up",)),
        on_down=lambda: feed.events.put(("down",)),
        **options,
    )


@pytest.fixture
def feed(engine: sa.Engine) -> Iterator[Feed]:
    feed = Feed()
    running = listener(engine, feed)
    running.start()
    assert feed.next() == ("up",)
    yield feed
    running.close()


def stored_job(engine: sa.Engine) -> uuid.UUID:
    owner = records.tenant()
    job = records.job(owner.id)
    with sql_uow_factory(engine)() as uow:
        uow.tenants.add(owner)
        uow.jobs.add(job, records.problem())
        uow.commit()
    return job.id


def listening_backends(engine: sa.Engine) -> list[int]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT pid FROM pg_stat_activity"
                    " WHERE datname = current_database() AND application_name = :name"
                ),
                {"name": APPLICATION_NAME},
            ).scalars()
        )


def eventually(check: Callable[[], bool]) -> bool:
    """A closed connection leaves pg_stat_activity a moment after the client closed it."""
    deadline = time.monotonic() + WAIT
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_an_update_and_a_delete_of_a_job_are_announced_and_an_insert_is_not(engine, feed):
    job_id = stored_job(engine)
    assert feed.quiet_for(0.5), "an insert was announced"
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET attempts = 1 WHERE id = :id"), {"id": job_id})
    assert feed.next() == ("changed", job_id)
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM jobs WHERE id = :id"), {"id": job_id})
    assert feed.next() == ("changed", job_id)


def test_a_change_rolled_back_is_not_announced(engine, feed):
    job_id = stored_job(engine)
    with engine.connect() as conn:
        conn.execute(sa.text("UPDATE jobs SET attempts = 1 WHERE id = :id"), {"id": job_id})
        conn.rollback()
    assert feed.quiet_for(0.5)


def test_a_lost_connection_is_reported_down_then_up_again_and_announces_again(engine, feed):
    assert eventually(lambda: len(listening_backends(engine)) == 1)
    [pid] = listening_backends(engine)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    assert feed.next() == ("down",)
    assert feed.next() == ("up",)
    job_id = stored_job(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE jobs SET attempts = 2 WHERE id = :id"), {"id": job_id})
    assert feed.next() == ("changed", job_id)


def test_a_recycled_connection_is_reported_down_then_up_and_still_announces(engine):
    # Notifications committed while the new connection starts listening could reach
    # neither connection, so a replacement is a down then an up, never a silent gap.
    feed = Feed()
    running = listener(engine, feed, recycle_seconds=0.5)
    running.start()
    try:
        assert feed.next() == ("up",)
        job_id = stored_job(engine)
        first = listening_backends(engine)
        assert feed.next() == ("down",)
        assert feed.next() == ("up",)
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE jobs SET attempts = 3 WHERE id = :id"), {"id": job_id})
        seen = [feed.next() for _ in range(3)]
        assert ("changed", job_id) in seen
        assert eventually(lambda: len(now := listening_backends(engine)) == 1 and now != first)
    finally:
        running.close()


def test_a_database_without_the_trigger_is_never_reported_up(postgres_admin_url):
    from tests import harness

    name = f"rota_nofeed_{harness.worker_id()}"
    url = harness.create_database(postgres_admin_url, name)
    bare = make_engine(Settings(), url=url)
    feed = Feed()
    running = listener(bare, feed, retry_seconds=(0.05, 0.1))
    try:
        running.start()
        assert feed.quiet_for(1.0), "a feed with no trigger behind it said it was up"
    finally:
        running.close()
        bare.dispose()
        harness.drop_database(postgres_admin_url, name)


def test_heartbeats_of_other_processes_are_not_announced(engine, feed):
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_notify(:c, 'heartbeat 1234')"), {"c": CHANNEL})
        conn.commit()
    assert feed.quiet_for(0.5)


def test_close_reports_down_and_leaves_no_connection(engine):
    feed = Feed()
    running = listener(engine, feed)
    running.start()
    assert feed.next() == ("up",)
    assert len(listening_backends(engine)) == 1
    running.close()
    assert feed.next() == ("down",)
    assert eventually(lambda: listening_backends(engine) == [])


def test_an_unreachable_database_is_retried_until_close(postgres_url):
    from tests import harness

    dead = make_engine(Settings(), url=f"postgresql://postgres@127.0.0.1:{harness.free_port()}/x")
    feed = Feed()
    running = listener(dead, feed, retry_seconds=(0.05, 0.1))
    running.start()
    assert feed.quiet_for(0.5), "a feed that never connected reported something"
    running.close()
    assert not running._thread.is_alive()  # it stopped retrying
    assert feed.quiet_for(0.2)  # never up, so never down either
    dead.dispose()


def test_there_is_no_feed_on_sqlite_or_when_turned_off(tmp_path, postgres_url):
    def build(engine: sa.Engine, enabled: bool) -> JobChangeListener | None:
        return job_change_listener(
            engine, enabled=enabled, on_change=print, on_up=print, on_down=print
        )

    sqlite = make_engine(Settings(), url=f"sqlite:///{tmp_path / 'rota.db'}")
    postgres = make_engine(Settings(), url=postgres_url)
    try:
        assert build(sqlite, True) is None
        assert build(postgres, False) is None
        assert isinstance(build(postgres, True), JobChangeListener)
    finally:
        sqlite.dispose()
        postgres.dispose()
