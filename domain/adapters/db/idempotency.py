"""Idempotency keys in SQL (domain.ports.IdempotencyRepository).

The (tenant_id, key) primary key is what makes two concurrent requests with the same key end
in one job: `INSERT ... ON CONFLICT DO NOTHING` waits for a concurrent transaction that holds
the key, and inserts nothing once that one has committed, without aborting this transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from domain.adapters.db.tables import idempotency_keys as table
from domain.outbox import IdempotencyRecord


class SqlIdempotencyKeys:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def claim(self, record: IdempotencyRecord, expired_before: dt.datetime) -> bool:
        c = table.c
        # An expired key is free again even before the retention task has purged it.
        self._conn.execute(
            table.delete().where(
                c.tenant_id == record.tenant_id,
                c.key == record.key,
                c.created_at < expired_before,
            )
        )
        dialect = postgresql if self._conn.dialect.name == "postgresql" else sqlite
        insert = (
            dialect.insert(table)
            .values(
                tenant_id=record.tenant_id,
                key=record.key,
                request_hash=record.request_hash,
                job_id=record.job_id,
                created_at=record.created_at,
            )
            .on_conflict_do_nothing(index_elements=[c.tenant_id, c.key])
            # RETURNING says whether a row went in; rowcount is not reliable for INSERT.
            .returning(c.key)
        )
        return self._conn.execute(insert).first() is not None

    def get(self, tenant_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        row = self._conn.execute(
            sa.select(table).where(table.c.tenant_id == tenant_id, table.c.key == key)
        ).first()
        if row is None:
            return None
        return IdempotencyRecord(
            tenant_id=row.tenant_id,
            key=row.key,
            request_hash=row.request_hash,
            job_id=row.job_id,
            created_at=row.created_at,
        )

    def purge(self, before: dt.datetime, limit: int) -> int:
        c = table.c
        old = sa.select(c.tenant_id, c.key).where(c.created_at < before).limit(limit).subquery()
        return self._conn.execute(
            table.delete().where(sa.tuple_(c.tenant_id, c.key).in_(sa.select(old)))
        ).rowcount
