"""The problem in index form: what the heuristic and the CP-SAT model work on.

Employees, days and shift types become 0-based indices; limits become per-employee tuples;
requests and cover become dense tables. A roster is `roster[e][d]` = shift index or `OFF`.

The independent evaluator (`evaluator.py`) deliberately does NOT use this module: it reads the
public `Problem` and the assignments directly, so a mistake here cannot hide in both places.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from domain.problem import Assignment, Problem

OFF = -1

Roster = list[list[int]]  # roster[e][d] -> shift index or OFF


@dataclass(frozen=True, slots=True)
class Instance:
    start: dt.date
    days: int
    shift_ids: tuple[str, ...]
    employee_ids: tuple[str, ...]
    duration: tuple[int, ...]  # minutes, per shift
    forbidden_next: tuple[frozenset[int], ...]  # per shift: shifts not allowed the day after
    max_shifts: tuple[tuple[int | None, ...], ...]  # [e][s], None = unlimited
    min_minutes: tuple[int | None, ...]
    max_minutes: tuple[int | None, ...]
    min_consecutive: tuple[int | None, ...]
    max_consecutive: tuple[int | None, ...]
    min_days_off: tuple[int | None, ...]
    max_weekends: tuple[int | None, ...]
    days_off: tuple[frozenset[int], ...]  # per employee, days inside the horizon
    weekends: tuple[tuple[int, ...], ...]  # calendar weekends: the Sat/Sun day indices in range
    # on_weight[e][d][s]: penalty if e does not work s on d; off_weight likewise if e works s.
    on_weight: tuple[tuple[tuple[int, ...], ...], ...]
    off_weight: tuple[tuple[tuple[int, ...], ...], ...]
    # cover[d][s] = (requirement, under_weight, over_weight) or None when there is no line.
    cover: tuple[tuple[tuple[int, int, int] | None, ...], ...]

    @property
    def n_employees(self) -> int:
        return len(self.employee_ids)

    @property
    def n_shifts(self) -> int:
        return len(self.shift_ids)

    def may_work(self, e: int, d: int, s: int) -> bool:
        """True unless a day off or a zero max_shifts rules (e, d, s) out on its own."""
        return d not in self.days_off[e] and self.max_shifts[e][s] != 0

    def roster_from_assignments(self, assignments: list[Assignment]) -> Roster:
        e_index = {e: i for i, e in enumerate(self.employee_ids)}
        s_index = {s: i for i, s in enumerate(self.shift_ids)}
        roster = [[OFF] * self.days for _ in self.employee_ids]
        for a in assignments:
            roster[e_index[a.employee]][(a.date - self.start).days] = s_index[a.shift]
        return roster

    def assignments(self, roster: Roster) -> list[Assignment]:
        dates = [self.start + dt.timedelta(days=d) for d in range(self.days)]
        return [
            Assignment(employee=self.employee_ids[e], date=dates[d], shift=self.shift_ids[s])
            for d in range(self.days)
            for e in range(self.n_employees)
            if (s := roster[e][d]) != OFF
        ]


def calendar_weekends(start: dt.date, days: int) -> tuple[tuple[int, ...], ...]:
    """Saturday+Sunday pairs of the real calendar, clipped to the horizon, in order."""
    groups: dict[dt.date, list[int]] = {}
    for d in range(days):
        date = start + dt.timedelta(days=d)
        weekday = date.weekday()
        if weekday >= 5:  # 5 = Saturday, 6 = Sunday; a Sunday belongs to the Saturday before
            groups.setdefault(date - dt.timedelta(days=weekday - 5), []).append(d)
    return tuple(tuple(v) for _, v in sorted(groups.items()))


def compile_problem(problem: Problem) -> Instance:
    """Index a *validated* problem (see `domain.validation`); unknown ids raise KeyError."""
    h = problem.horizon
    n_days = h.days
    shift_ids = tuple(s.id for s in problem.shift_types)
    s_index = {s: i for i, s in enumerate(shift_ids)}
    employee_ids = tuple(e.id for e in problem.employees)
    e_index = {e: i for i, e in enumerate(employee_ids)}
    n_s = len(shift_ids)

    on = [[[0] * n_s for _ in range(n_days)] for _ in employee_ids]
    off = [[[0] * n_s for _ in range(n_days)] for _ in employee_ids]
    for r in problem.requests:
        d = h.day(r.date)
        if 0 <= d < n_days:
            table = on if r.kind == "on" else off
            table[e_index[r.employee]][d][s_index[r.shift]] += r.weight

    cover: list[list[tuple[int, int, int] | None]] = [[None] * n_s for _ in range(n_days)]
    for c in problem.cover:
        d = h.day(c.date)
        if 0 <= d < n_days:
            cover[d][s_index[c.shift]] = (c.requirement, c.under_weight, c.over_weight)

    emps = problem.employees
    return Instance(
        start=h.start,
        days=n_days,
        shift_ids=shift_ids,
        employee_ids=employee_ids,
        duration=tuple(s.duration_minutes for s in problem.shift_types),
        forbidden_next=tuple(
            frozenset(s_index[n] for n in s.forbidden_next) for s in problem.shift_types
        ),
        max_shifts=tuple(tuple(e.max_shifts.get(s) for s in shift_ids) for e in emps),
        min_minutes=tuple(e.min_total_minutes for e in emps),
        max_minutes=tuple(e.max_total_minutes for e in emps),
        min_consecutive=tuple(e.min_consecutive_shifts for e in emps),
        max_consecutive=tuple(e.max_consecutive_shifts for e in emps),
        min_days_off=tuple(e.min_consecutive_days_off for e in emps),
        max_weekends=tuple(e.max_weekends for e in emps),
        days_off=tuple(
            frozenset(d for x in e.days_off if 0 <= (d := h.day(x)) < n_days) for e in emps
        ),
        weekends=calendar_weekends(h.start, n_days),
        on_weight=tuple(tuple(tuple(row) for row in emp) for emp in on),
        off_weight=tuple(tuple(tuple(row) for row in emp) for emp in off),
        cover=tuple(tuple(row) for row in cover),
    )
