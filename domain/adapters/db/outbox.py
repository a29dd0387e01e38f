"""The transactional outbox in SQL (domain.ports.OutboxRepository).

Relays claim rows with `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL: a row one relay is
publishing is invisible to the others until that relay commits it as sent, so several relays
(beat tasks on several workers, or the API's own publish) never send a message twice between
them. SQLite has no row locks; there the claim takes the database's write lock first.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from domain.adapters.db.tables import outbox
from domain.outbox import OutboxMessage

# A publish error is kept for operators; a broker's message may be long.
MAX_ERROR_CHARS = 500


# Built once (see _INSERT_JOB in jobs.py): both run on every submit.
_INSERT = outbox.insert()
_MARK_SENT = (
    outbox.update()
    .where(outbox.c.id == sa.bindparam("message_id"), outbox.c.sent_at.is_(None))
    .values(sent_at=sa.bindparam("now"))
)


_MARK_MANY_SENT = (
    outbox.update()
    .where(outbox.c.id.in_(sa.bindparam("message_ids", expanding=True)))
    .where(outbox.c.sent_at.is_(None))
    .values(sent_at=sa.bindparam("now"))
)


class SqlOutbox:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add(self, message: OutboxMessage) -> None:
        self._conn.execute(
            _INSERT,
            {
                "id": message.id,
                "kind": message.kind,
                "job_id": message.job_id,
                "payload": message.payload,
                "created_at": message.created_at,
                "available_at": message.available_at,
                "attempts": message.attempts,
                "sent_at": message.sent_at,
                "last_error": message.last_error,
            },
        )

    def claim(self, now: dt.datetime, limit: int) -> list[OutboxMessage]:
        c = outbox.c
        if self._conn.dialect.name == "sqlite":
            # A write first, so this transaction holds SQLite's write lock before it reads:
            # a second relay waits (busy_timeout) and then sees these rows already sent.
            self._conn.execute(outbox.update().where(sa.false()).values(attempts=c.attempts))
        query = (
            sa.select(outbox)
            .where(c.sent_at.is_(None), c.available_at <= now)
            .order_by(c.available_at, c.id)
            .limit(limit)
            # Rendered on PostgreSQL only; SQLAlchemy's SQLite dialect leaves it out.
            .with_for_update(skip_locked=True)
        )
        return [_message(row) for row in self._conn.execute(query)]

    def mark_sent(self, message_id: uuid.UUID, now: dt.datetime) -> bool:
        result = self._conn.execute(_MARK_SENT, {"message_id": message_id, "now": now})
        return result.rowcount == 1

    def mark_sent_many(self, message_ids: Sequence[uuid.UUID], now: dt.datetime) -> int:
        if not message_ids:
            return 0
        result = self._conn.execute(_MARK_MANY_SENT, {"message_ids": list(message_ids), "now": now})
        return result.rowcount

    def mark_failed(self, message_id: uuid.UUID, *, error: str, retry_at: dt.datetime) -> None:
        self._conn.execute(
            outbox.update()
            .where(outbox.c.id == message_id)
            .values(
                attempts=outbox.c.attempts + 1,
                last_error=error[:MAX_ERROR_CHARS],
                available_at=retry_at,
            )
        )

    def purge_sent(self, before: dt.datetime, limit: int) -> int:
        c = outbox.c
        ids = sa.select(c.id).where(c.sent_at < before).limit(limit).scalar_subquery()
        return self._conn.execute(outbox.delete().where(c.id.in_(ids))).rowcount


def _message(row: Row) -> OutboxMessage:
    return OutboxMessage(
        id=row.id,
        kind=row.kind,
        job_id=row.job_id,
        payload=row.payload,
        created_at=row.created_at,
        available_at=row.available_at,
        attempts=row.attempts,
        sent_at=row.sent_at,
        last_error=row.last_error,
    )
