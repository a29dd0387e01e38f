"""BatchedSentMarks (domain/services/outbox_marks.py): published messages are marked sent in
batches from a background thread; a lost batch only means a later republish."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid

from domain.outbox import OutboxMessage
from domain.services.outbox import publish_after_commit
from domain.services.outbox_marks import BatchedSentMarks
from tests.fakes import FakeQueue, Store, fake_uow_factory

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def clock() -> dt.datetime:
    return NOW


class CountingUow:
    """The fake unit of work, counting the transactions that were committed."""

    def __init__(self, store: Store) -> None:
        self.inner = fake_uow_factory(store)
        self.commits = 0
        self.fail = False

    def __call__(self, *, read_only: bool = False):
        if self.fail:
            raise ConnectionError("database away")
        uow = self.inner(read_only=read_only)
        counter = self
        commit = uow.commit

        def counted() -> None:
            commit()
            counter.commits += 1

        uow.commit = counted
        return uow


def stored(store: Store, count: int) -> list[OutboxMessage]:
    messages = [
        OutboxMessage.solve_job(uuid.uuid4(), "req", NOW, NOW + dt.timedelta(seconds=10))
        for _ in range(count)
    ]
    for message in messages:
        store.outbox[message.id] = message
    return messages


def wait_until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.01)


def test_marks_from_many_threads_land_in_a_few_transactions():
    store = Store()
    uow = CountingUow(store)
    messages = stored(store, 200)
    marks = BatchedSentMarks(uow, clock, interval=0.2)
    try:
        threads = [
            threading.Thread(target=lambda ms=messages[i::8]: [marks.mark_sent(m.id) for m in ms])
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wait_until(lambda: all(store.outbox[m.id].sent_at == NOW for m in messages))
    finally:
        marks.close()
    assert 1 <= uow.commits <= 3  # 200 marks, not 200 transactions


def test_close_flushes_what_is_pending():
    store = Store()
    uow = CountingUow(store)
    [message] = stored(store, 1)
    marks = BatchedSentMarks(uow, clock, interval=60)  # would wait a minute on its own
    marks.mark_sent(message.id)
    marks.close()
    assert store.outbox[message.id].sent_at == NOW


def test_a_mark_after_close_is_written_at_once():
    # A submit still running when the process shuts down: marked in its own thread.
    store = Store()
    uow = CountingUow(store)
    [message] = stored(store, 1)
    marks = BatchedSentMarks(uow, clock)
    marks.close()
    marks.mark_sent(message.id)
    assert store.outbox[message.id].sent_at == NOW
    assert uow.commits == 1


def test_a_batch_that_cannot_be_written_is_dropped_with_a_warning_and_later_ones_are_not(
    caplog,
):
    store = Store()
    uow = CountingUow(store)
    lost, kept = stored(store, 2)
    marks = BatchedSentMarks(uow, clock, interval=0.01)
    try:
        uow.fail = True
        with caplog.at_level(logging.WARNING, logger="domain.services.outbox_marks"):
            marks.mark_sent(lost.id)
            wait_until(lambda: "could not mark 1 outbox message" in caplog.text)
        uow.fail = False
        marks.mark_sent(kept.id)
        wait_until(lambda: store.outbox[kept.id].sent_at == NOW)
    finally:
        marks.close()
    # Left unsent: the relay publishes it again after the fast-path delay.
    assert store.outbox[lost.id].sent_at is None


def test_the_fast_path_hands_a_published_message_to_the_marks_not_a_transaction():
    store = Store()
    uow = CountingUow(store)
    [message] = stored(store, 1)
    queue = FakeQueue()
    handed: list[uuid.UUID] = []

    class Marks:
        def mark_sent(self, message_id: uuid.UUID) -> None:
            handed.append(message_id)

    assert publish_after_commit(message, uow, queue, clock, Marks())
    assert queue.sent == [(message.job_id, "req")]
    assert handed == [message.id]
    assert uow.commits == 0
