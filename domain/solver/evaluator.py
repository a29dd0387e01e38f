"""The independent evaluator: objective and hard-rule violations of a roster.

It reads only the public `Problem` and the assignments, and shares no code with the solver
(not even `instance.py`), so that a mistake in the CP-SAT model cannot hide in both places.
The semantics of every rule follow `bench/curtois/FORMAT.md` sections 4 and 5, including the
exemptions at the horizon's ends.

Assignments that name an unknown employee or shift type, or a date outside the horizon, are
reported and then ignored by every other rule and by the objective. An employee who is given
several shifts on one day is reported once (`one_shift_per_day`) and is then taken to work
each of those shifts, so the other rules still see all of them.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import groupby

from domain.problem import Assignment, Employee, Penalties, Problem, ShiftType, Violation

UNKNOWN_EMPLOYEE = "unknown_employee"
UNKNOWN_SHIFT = "unknown_shift"
DATE_OUTSIDE_HORIZON = "date_outside_horizon"
ONE_SHIFT_PER_DAY = "one_shift_per_day"
DAY_OFF = "day_off"
FORBIDDEN_SEQUENCE = "forbidden_sequence"
MAX_SHIFTS = "max_shifts"
MIN_TOTAL_MINUTES = "min_total_minutes"
MAX_TOTAL_MINUTES = "max_total_minutes"
MAX_CONSECUTIVE_SHIFTS = "max_consecutive_shifts"
MIN_CONSECUTIVE_SHIFTS = "min_consecutive_shifts"
MIN_CONSECUTIVE_DAYS_OFF = "min_consecutive_days_off"
MAX_WEEKENDS = "max_weekends"

# Stable rule names, in the order reports list them; the API quotes them.
RULES: tuple[str, ...] = (
    UNKNOWN_EMPLOYEE,
    UNKNOWN_SHIFT,
    DATE_OUTSIDE_HORIZON,
    ONE_SHIFT_PER_DAY,
    DAY_OFF,
    FORBIDDEN_SEQUENCE,
    MAX_SHIFTS,
    MIN_TOTAL_MINUTES,
    MAX_TOTAL_MINUTES,
    MAX_CONSECUTIVE_SHIFTS,
    MIN_CONSECUTIVE_SHIFTS,
    MIN_CONSECUTIVE_DAYS_OFF,
    MAX_WEEKENDS,
)


@dataclass(frozen=True)
class Evaluation:
    penalties: Penalties
    violations: list[Violation]

    @property
    def objective(self) -> int:
        return self.penalties.total

    @property
    def feasible(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class _Calendar:
    start: dt.date
    dates: tuple[dt.date, ...]  # day index -> date
    # day index -> index of its weekend's Saturday (-1 when a Sunday on day 0), None on weekdays
    weekend_of: tuple[int | None, ...]
    shift_types: dict[str, ShiftType]

    @property
    def days(self) -> int:
        return len(self.dates)

    def day(self, date: dt.date) -> int | None:
        day = (date - self.start).days
        return day if 0 <= day < len(self.dates) else None


@dataclass(frozen=True)
class _Schedule:
    """One employee's roster over the horizon, from the valid assignments only."""

    employee: Employee
    assigned: list[list[str]]  # day index -> shift ids as assigned, duplicates kept
    shifts: list[tuple[str, ...]]  # day index -> distinct shift ids worked
    working: list[bool]


def evaluate(problem: Problem, assignments: Sequence[Assignment]) -> Evaluation:
    """Recompute the objective and list every hard-rule violation of `assignments`."""
    cal = _calendar(problem)
    violations, schedules = _build_schedules(problem, cal, assignments)
    for employee in problem.employees:
        schedule = schedules[employee.id]
        for rule in _EMPLOYEE_RULES:
            violations.extend(rule(schedule, cal))
    on, off = _request_penalties(problem, cal, schedules)
    under, over = _cover_penalties(problem, cal, schedules)
    penalties = Penalties(requests_on=on, requests_off=off, cover_under=under, cover_over=over)
    return Evaluation(penalties=penalties, violations=violations)


def _calendar(problem: Problem) -> _Calendar:
    start = problem.horizon.start
    dates = tuple(start + dt.timedelta(days=i) for i in range(problem.horizon.days))
    weekend_of: list[int | None] = []
    for i, date in enumerate(dates):
        weekday = date.weekday()
        # A Sunday belongs to the Saturday before it, even when that is outside the horizon.
        weekend_of.append(i if weekday == 5 else i - 1 if weekday == 6 else None)
    shift_types = {s.id: s for s in problem.shift_types}
    return _Calendar(start, dates, tuple(weekend_of), shift_types)


def _build_schedules(
    problem: Problem, cal: _Calendar, assignments: Sequence[Assignment]
) -> tuple[list[Violation], dict[str, _Schedule]]:
    """Sort the assignments into per-employee days; report the ones that fit nowhere."""
    assigned = {e.id: [[] for _ in range(cal.days)] for e in problem.employees}
    violations: list[Violation] = []
    for a in assignments:
        bad = False
        if a.employee not in assigned:
            bad = True
            detail = f"assignment names unknown employee {a.employee!r}"
            violations.append(_bad(UNKNOWN_EMPLOYEE, a, detail))
        if a.shift not in cal.shift_types:
            bad = True
            detail = f"assignment names unknown shift type {a.shift!r}"
            violations.append(_bad(UNKNOWN_SHIFT, a, detail))
        day = cal.day(a.date)
        if day is None:
            bad = True
            detail = f"date is outside the horizon {_span(cal.dates[0], cal.dates[-1])}"
            violations.append(_bad(DATE_OUTSIDE_HORIZON, a, detail))
        if not bad:
            assigned[a.employee][day].append(a.shift)
    schedules = {}
    for employee in problem.employees:
        days = assigned[employee.id]
        shifts = [tuple(dict.fromkeys(d)) for d in days]
        working = [bool(d) for d in days]
        schedules[employee.id] = _Schedule(employee, days, shifts, working)
    return violations, schedules


def _bad(rule: str, a: Assignment, detail: str) -> Violation:
    return Violation(rule=rule, employee=a.employee, dates=[a.date], detail=detail)


def _violation(
    rule: str, s: _Schedule, cal: _Calendar, days: Sequence[int], detail: str
) -> Violation:
    dates = [cal.dates[i] for i in days]
    return Violation(rule=rule, employee=s.employee.id, dates=dates, detail=detail)


def _runs(flags: list[bool], value: bool) -> Iterator[tuple[int, int]]:
    """Maximal runs of `value` in `flags`, as (first index, length)."""
    i = 0
    for flag, group in groupby(flags):
        length = sum(1 for _ in group)
        if flag == value:
            yield i, length
        i += length


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --- hard rules, one per function (FORMAT.md section 4) ---------------------------------


def _one_shift_per_day(s: _Schedule, cal: _Calendar) -> Iterator[Violation]:
    for day, shifts in enumerate(s.assigned):
        if len(shifts) > 1:
            detail = f"{len(shifts)} assignments on one day ({', '.join(shifts)})"
            yield _violation(ONE_SHIFT_PER_DAY, s, cal, [day], detail)


def _day_off(s: _Schedule, cal: _Calendar) -> Iterator[Violation]:
    days = {d for d in map(cal.day, s.employee.days_off) if d is not None}
    for day in sorted(days):
        if s.working[day]:
            detail = f"works {', '.join(s.shifts[day])} on a day off"
            yield _violation(DAY_OFF, s, cal, [day], detail)


def _forbidden_sequence(s: _Schedule, cal: _Calendar) -> Iterator[Violation]:
    # Only pairs inside the horizon: the day before it counts as off (FORMAT.md 4.3).
    for day in range(cal.days - 1):
        for a in s.shifts[day]:
            forbidden = cal.shift_types[a].forbidden_next
            for b in s.shifts[day + 1]:
                if b in forbidden:
                    detail = f"{a} then {b} on the next day is forbidden"
                    yield _violation(FORBIDDEN_SEQUENCE, s, cal, [day, day + 1], detail)


def _max_shifts(s: _Schedule, cal: _Calendar) -> Iterator[Violation]:
    for shift, limit in s.employee.max_shifts.items():
        days = [d for d, shifts in enumerate(s.shifts) if shift in shifts]
        if len(days) > limit:
            detail = f"works {shift} {_plural(len(days), 'time')}, at most {limit}"
            yield _violation(MAX_SHIFTS, s, cal, days, detail)


def _total_minutes(s: _Schedule, cal: _Calendar) -> int:
    return sum(cal.shift_types[x].duration_minutes for shifts in s.shifts for x in shifts)


def _min_total_minutes(s: _Schedule, cal: _Calendar) -> Iterator[Violation]:
    limit = s.employee.min_total_minutes
    if limit is not None and (total := _total_minutes(s, cal)) < limit:
        days = [d for d, w in enumerate(s.working) if w]
        yield _violation(MIN_TOTAL_MINUTES, s, cal, days, f"works {total} min, at least {limit}")


def _max_total_minutes(s: _Schedule, cal: _Calendar) -> Iterator[Violation]:
    limit = s.employee.max_total_minutes
    if limit is not None and (total := _total_minutes(s, cal)) > limit:
        days = [d for d, w in enumerate(s.working) if w]
        yield _violation(MAX_TOTAL_MINUTES, s, cal, days, f"works {total} min, at most {limit}")


def _max_consecutive_shifts(s: _Schedule, cal: _Calendar) -> Iterator[Violation]:
    # The days just outside the horizon count as off: runs are measured inside it only.
    limit = s.employee.max_consecutive_shifts
    if limit is None:
        return
    for first, length in _runs(s.working, True):
        if length > limit:
            detail = f"run of {_plural(length, 'working day')} exceeds {limit}"
            yield _violation(MAX_CONSECUTIVE_SHIFTS, s, cal, range(first, first + length), detail)


def _inside(first: int, length: int, cal: _Calendar) -> bool:
    """True if the run has a neighbour on both sides inside the horizon."""
    return first > 0 and first + length < cal.days


def _min_consecutive_shifts(s: _Schedule, cal: _Calendar) -> Iterator[Violation]:
    # Runs touching day 0 or the last day are exempt: work may go on outside the horizon.
    limit = s.employee.min_consecutive_shifts
    if limit is None:
        return
    for first, length in _runs(s.working, True):
        if length < limit and _inside(first, length, cal):
            detail = f"run of {_plural(length, 'working day')} is shorter than {limit}"
            yield _violation(MIN_CONSECUTIVE_SHIFTS, s, cal, range(first, first + length), detail)


def _min_consecutive_days_off(s: _Schedule, cal: _Calendar) -> Iterator[Violation]:
    # Runs touching day 0 or the last day are exempt: days off may go on outside the horizon.
    limit = s.employee.min_consecutive_days_off
    if limit is None:
        return
    for first, length in _runs(s.working, False):
        if length < limit and _inside(first, length, cal):
            detail = f"run of {_plural(length, 'day')} off is shorter than {limit}"
            days = range(first, first + length)
            yield _violation(MIN_CONSECUTIVE_DAYS_OFF, s, cal, days, detail)


def _max_weekends(s: _Schedule, cal: _Calendar) -> Iterator[Violation]:
    limit = s.employee.max_weekends
    if limit is None:
        return
    days = [d for d, w in enumerate(s.working) if w and cal.weekend_of[d] is not None]
    worked = len({cal.weekend_of[d] for d in days})
    if worked > limit:
        detail = f"works {_plural(worked, 'weekend')}, at most {limit}"
        yield _violation(MAX_WEEKENDS, s, cal, days, detail)


_EMPLOYEE_RULES: tuple[Callable[[_Schedule, _Calendar], Iterator[Violation]], ...] = (
    _one_shift_per_day,
    _day_off,
    _forbidden_sequence,
    _max_shifts,
    _min_total_minutes,
    _max_total_minutes,
    _max_consecutive_shifts,
    _min_consecutive_shifts,
    _min_consecutive_days_off,
    _max_weekends,
)


# --- objective (FORMAT.md section 5) -----------------------------------------------------

_NO_SHIFTS: tuple[str, ...] = ()


def _shifts_on(
    schedules: dict[str, _Schedule], cal: _Calendar, employee: str, date: dt.date
) -> tuple[str, ...]:
    schedule = schedules.get(employee)
    day = cal.day(date)
    if schedule is None or day is None:
        return _NO_SHIFTS
    return schedule.shifts[day]


def _request_penalties(
    problem: Problem, cal: _Calendar, schedules: dict[str, _Schedule]
) -> tuple[int, int]:
    """An on-request fails unless that shift is worked; an off-request only if it is."""
    on = off = 0
    for r in problem.requests:
        works = r.shift in _shifts_on(schedules, cal, r.employee, r.date)
        if r.kind == "on" and not works:
            on += r.weight
        elif r.kind == "off" and works:
            off += r.weight
    return on, off


def _cover_penalties(
    problem: Problem, cal: _Calendar, schedules: dict[str, _Schedule]
) -> tuple[int, int]:
    """Per cover line: weighted people missing and extra, even when the requirement is 0."""
    count: Counter[tuple[int, str]] = Counter()
    for schedule in schedules.values():
        for day, shifts in enumerate(schedule.shifts):
            for shift in shifts:
                count[day, shift] += 1
    under = over = 0
    for c in problem.cover:
        day = cal.day(c.date)
        n = 0 if day is None else count[day, c.shift]
        under += c.under_weight * max(0, c.requirement - n)
        over += c.over_weight * max(0, n - c.requirement)
    return under, over


# --- report ------------------------------------------------------------------------------


def _span(first: dt.date, last: dt.date) -> str:
    return first.isoformat() if first == last else f"{first.isoformat()}..{last.isoformat()}"


def _format_dates(dates: Sequence[dt.date]) -> str:
    """Consecutive dates collapse into ranges: 2024-01-01..2024-01-07, 2024-01-10."""
    parts: list[str] = []
    ordered = sorted(set(dates))
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and (ordered[j + 1] - ordered[j]).days == 1:
            j += 1
        parts.append(_span(ordered[i], ordered[j]))
        i = j + 1
    return ", ".join(parts)


def format_evaluation(ev: Evaluation) -> str:
    """A readable multi-line report for `rota evaluate`: objective, then violations by rule."""
    p = ev.penalties
    lines = [
        f"objective: {ev.objective}",
        f"  requests on:  {p.requests_on}",
        f"  requests off: {p.requests_off}",
        f"  cover under:  {p.cover_under}",
        f"  cover over:   {p.cover_over}",
    ]
    if ev.feasible:
        lines.append("feasible: no hard rule is broken")
        return "\n".join(lines)
    lines.append(f"infeasible: {_plural(len(ev.violations), 'hard violation')}")
    order = {rule: i for i, rule in enumerate(RULES)}
    by_rule = sorted(ev.violations, key=lambda v: order.get(v.rule, len(RULES)))
    for rule, group in groupby(by_rule, key=lambda v: v.rule):
        items = list(group)
        lines.append(f"  {rule} ({len(items)})")
        for v in items:
            where = f" {_format_dates(v.dates)}" if v.dates else ""
            lines.append(f"    {v.employee}{where}: {v.detail}")
    return "\n".join(lines)
