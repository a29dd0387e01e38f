"""A job's roster as rows (domain.ports.AssignmentRepository), for filtered, paged reads."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from domain.adapters.db.tables import assignments as table
from domain.ports import AssignmentCursor
from domain.problem import Assignment

# Rows per executemany batch: bounds the parameter list held in memory for a 60,000-row roster.
BATCH = 10_000


class SqlAssignments:
    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def add_all(self, job_id: uuid.UUID, assignments: Sequence[Assignment]) -> None:
        # An exact duplicate (same person, day and shift twice) is one row: the evaluator has
        # already reported it, and the full solution JSON keeps the list as the solver gave it.
        unique = dict.fromkeys((a.date, a.employee, a.shift) for a in assignments)
        rows = [
            {"job_id": job_id, "date": date, "employee_id": employee, "shift_id": shift}
            for date, employee, shift in unique
        ]
        insert = table.insert()
        for start in range(0, len(rows), BATCH):
            self._conn.execute(insert, rows[start : start + BATCH])

    def page(
        self,
        job_id: uuid.UUID,
        *,
        date: dt.date | None,
        employee: str | None,
        after: AssignmentCursor | None,
        limit: int,
    ) -> list[Assignment]:
        c = table.c
        query = sa.select(c.date, c.employee_id, c.shift_id).where(c.job_id == job_id)
        if date is not None:
            query = query.where(c.date == date)
        if employee is not None:
            query = query.where(c.employee_id == employee)
        if after is not None:
            query = query.where(
                sa.tuple_(c.date, c.employee_id, c.shift_id)
                > sa.tuple_(
                    sa.literal(after[0], c.date.type),
                    sa.literal(after[1], c.employee_id.type),
                    sa.literal(after[2], c.shift_id.type),
                )
            )
        query = query.order_by(c.date, c.employee_id, c.shift_id).limit(limit)
        return [
            Assignment(employee=row.employee_id, date=row.date, shift=row.shift_id)
            for row in self._conn.execute(query)
        ]
