"""Semantic validation of a `Problem`: what msgspec's type checks cannot see on their own.

`validate` runs every check and returns every issue at once, so a client can fix its request
in one round trip. `decode_problem` is the one entry point for untrusted JSON: type errors and
semantic errors both come out as `ProblemInvalid`, never as a traceback.

Decisions on zero (DESIGN.md section 3, FORMAT.md section 2):
* `max_shifts[s] = 0`, `max_consecutive_shifts = 0`, `max_weekends = 0` and
  `max_total_minutes = 0` are real rules (the employee never works s / at all / on weekends).
* `min_* = 0` is accepted and means the same as no limit (every run is at least 0 long).
* `requirement = 0` is a real demand (over-cover still costs); a weight of 0 makes its line inert.
* `duration_minutes` and `options.time_limit_seconds` must be positive.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import msgspec

from domain.problem import (
    MAX_COVER_LINES,
    MAX_EMPLOYEES,
    MAX_HORIZON_DAYS,
    MAX_ID_LENGTH,
    MAX_MINUTES_PER_SHIFT,
    MAX_REQUESTS,
    MAX_SHIFT_TYPES,
    MAX_WEIGHT,
    Employee,
    Problem,
    problem_decoder,
)
from domain.text import plain_text

MINUTES_PER_DAY = 24 * 60
# Caps on upper limits. A max above this horizon's length merely never binds (FORMAT.md: "values
# of n >= H have no effect"), and clients reuse monthly templates ("max_shifts 31" on a 28-day
# roster), so they are capped only at what the longest allowed horizon could use: a bigger
# number is a typo or an attempt to blow up the model.
MAX_LIMIT_DAYS = MAX_HORIZON_DAYS
MAX_LIMIT_MINUTES = MAX_HORIZON_DAYS * MINUTES_PER_DAY
# Lower limits are capped by this horizon instead: nobody can work more than 24 h a day, and a
# minimum run longer than the horizon has the same effect as one of exactly its length.
MAX_SEED = 2**31 - 1  # CP-SAT's random_seed is an int32
MAX_ISSUES = 1_000  # keeps an error response small when every line of a huge request is wrong
MAX_MESSAGE_CHARS = 300  # msgspec echoes client input (field names, enum values) in its messages


@dataclass(frozen=True)
class Issue:
    path: str  # JSON path into the problem, e.g. "$.employees[3].max_shifts.N"
    code: str  # stable UPPER_SNAKE code that clients may switch on
    message: str


class ProblemInvalid(Exception):
    """A problem that failed decoding or validation; `issues` lists every reason."""

    def __init__(self, issues: list[Issue]) -> None:
        # The issues are the only argument so that the exception pickles (Celery results).
        super().__init__(issues)
        self.issues = list(issues)

    def __str__(self) -> str:
        n = len(self.issues)
        head = f"invalid problem ({n} issue{'s' if n != 1 else ''})"
        return "\n".join([head, *(f"  {i.path}: {i.code}: {i.message}" for i in self.issues)])


# -- helpers -------------------------------------------------------------------------------

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _key(path: str, key: str) -> str:
    """JSON path of a member: `$.a.b`, or `$.a["b c"]` when the key is not a plain name."""
    if _PLAIN_KEY.fullmatch(key):
        return f"{path}.{key}"
    return f"{path}[{msgspec.json.encode(key).decode()}]"


def _bounded(path: str, value: int | None, cap: int) -> Iterator[Issue]:
    """NEGATIVE_VALUE below 0, VALUE_TOO_LARGE above `cap`; None (no limit) is always fine."""
    if value is None:
        return
    if value < 0:
        yield Issue(path, "NEGATIVE_VALUE", f"must be >= 0, got {value}")
    elif value > cap:
        yield Issue(path, "VALUE_TOO_LARGE", f"must be <= {cap}, got {value}")


def _span(p: Problem) -> int:
    """The horizon length for horizon-relative caps. A broken horizon falls back to the
    loosest allowed one, so it is reported once and not again by every limit."""
    days = p.horizon.days
    return days if 1 <= days <= MAX_HORIZON_DAYS else MAX_HORIZON_DAYS


def _outside(p: Problem, path: str, date: dt.date) -> Iterator[Issue]:
    if not 0 <= p.horizon.day(date) < p.horizon.days:
        yield Issue(path, "DATE_OUTSIDE_HORIZON", f"{date} is outside the horizon")


# -- checks ----------------------------------------------------------------------------------


def _check_sizes(p: Problem) -> Iterator[Issue]:
    for field in ("shift_types", "employees"):
        if not getattr(p, field):
            yield Issue(f"$.{field}", "EMPTY", "needs at least one entry")
    caps = {
        "shift_types": MAX_SHIFT_TYPES,
        "employees": MAX_EMPLOYEES,
        "requests": MAX_REQUESTS,
        "cover": MAX_COVER_LINES,
    }
    for field, cap in caps.items():
        if (n := len(getattr(p, field))) > cap:
            yield Issue(f"$.{field}", "TOO_MANY", f"at most {cap} entries, got {n}")


def _check_horizon(p: Problem) -> Iterator[Issue]:
    days = p.horizon.days
    if days < 1:
        yield Issue("$.horizon.days", "HORIZON_TOO_SHORT", f"must be >= 1, got {days}")
    elif days > MAX_HORIZON_DAYS:
        yield Issue("$.horizon.days", "HORIZON_TOO_LONG", f"at most {MAX_HORIZON_DAYS} days")
    elif (dt.date.max - p.horizon.start).days < days - 1:
        # Checked without date arithmetic, which would overflow past 9999-12-31.
        yield Issue("$.horizon", "HORIZON_OUT_OF_RANGE", "the horizon ends after 9999-12-31")


def _check_ids(p: Problem) -> Iterator[Issue]:
    for field in ("shift_types", "employees"):
        first: dict[str, int] = {}
        for i, item in enumerate(getattr(p, field)):
            path = f"$.{field}[{i}].id"
            if not 1 <= len(item.id) <= MAX_ID_LENGTH:
                yield Issue(path, "INVALID_ID", f"must be 1 to {MAX_ID_LENGTH} characters")
            if item.id in first:
                where = f"$.{field}[{first[item.id]}]"
                yield Issue(path, "DUPLICATE_ID", f"{item.id!r} is already used by {where}")
            first.setdefault(item.id, i)


def _check_shift_types(p: Problem) -> Iterator[Issue]:
    shifts = {s.id for s in p.shift_types}
    for i, s in enumerate(p.shift_types):
        path = f"$.shift_types[{i}]"
        if s.duration_minutes <= 0:
            yield Issue(f"{path}.duration_minutes", "NOT_POSITIVE", "must be > 0")
        else:
            yield from _bounded(
                f"{path}.duration_minutes", s.duration_minutes, MAX_MINUTES_PER_SHIFT
            )
        for j, n in enumerate(s.forbidden_next):
            if n not in shifts:
                yield Issue(f"{path}.forbidden_next[{j}]", "UNKNOWN_SHIFT", f"no shift {n!r}")


def _check_employee(p: Problem, i: int, e: Employee, shifts: set[str]) -> Iterator[Issue]:
    path = f"$.employees[{i}]"
    for s, n in e.max_shifts.items():
        if s not in shifts:
            yield Issue(_key(f"{path}.max_shifts", s), "UNKNOWN_SHIFT", f"no shift {s!r}")
        yield from _bounded(_key(f"{path}.max_shifts", s), n, MAX_LIMIT_DAYS)
    span = _span(p)
    caps = {
        "max_total_minutes": MAX_LIMIT_MINUTES,
        "min_total_minutes": span * MINUTES_PER_DAY,
        "max_consecutive_shifts": MAX_LIMIT_DAYS,
        "min_consecutive_shifts": span,
        "min_consecutive_days_off": span,
        "max_weekends": MAX_LIMIT_DAYS,
    }
    for field, cap in caps.items():
        yield from _bounded(f"{path}.{field}", getattr(e, field), cap)
    for low, high in (
        ("min_total_minutes", "max_total_minutes"),
        ("min_consecutive_shifts", "max_consecutive_shifts"),
    ):
        lo, hi = getattr(e, low), getattr(e, high)
        if lo is not None and hi is not None and lo > hi:
            yield Issue(f"{path}.{low}", "MIN_GREATER_THAN_MAX", f"{low} {lo} > {high} {hi}")
    for j, date in enumerate(e.days_off):
        yield from _outside(p, f"{path}.days_off[{j}]", date)


def _check_employees(p: Problem) -> Iterator[Issue]:
    shifts = {s.id for s in p.shift_types}
    for i, e in enumerate(p.employees):
        yield from _check_employee(p, i, e, shifts)


def _check_requests(p: Problem) -> Iterator[Issue]:
    shifts = {s.id for s in p.shift_types}
    employees = {e.id for e in p.employees}
    for i, r in enumerate(p.requests):
        path = f"$.requests[{i}]"
        if r.employee not in employees:
            yield Issue(f"{path}.employee", "UNKNOWN_EMPLOYEE", f"no employee {r.employee!r}")
        if r.shift not in shifts:
            yield Issue(f"{path}.shift", "UNKNOWN_SHIFT", f"no shift {r.shift!r}")
        yield from _outside(p, f"{path}.date", r.date)
        yield from _bounded(f"{path}.weight", r.weight, MAX_WEIGHT)


def _check_cover(p: Problem) -> Iterator[Issue]:
    shifts = {s.id for s in p.shift_types}
    first: dict[tuple[dt.date, str], int] = {}
    for i, c in enumerate(p.cover):
        path = f"$.cover[{i}]"
        if c.shift not in shifts:
            yield Issue(f"{path}.shift", "UNKNOWN_SHIFT", f"no shift {c.shift!r}")
        yield from _outside(p, f"{path}.date", c.date)
        if (c.date, c.shift) in first:
            where = f"$.cover[{first[c.date, c.shift]}]"
            yield Issue(path, "DUPLICATE_COVER", f"{c.date} {c.shift!r} already set by {where}")
        first.setdefault((c.date, c.shift), i)
        # More people than any problem may hold cannot be meant; it would only inflate costs.
        yield from _bounded(f"{path}.requirement", c.requirement, MAX_EMPLOYEES)
        yield from _bounded(f"{path}.under_weight", c.under_weight, MAX_WEIGHT)
        yield from _bounded(f"{path}.over_weight", c.over_weight, MAX_WEIGHT)


def _check_options(p: Problem) -> Iterator[Issue]:
    limit = p.options.time_limit_seconds
    path = "$.options.time_limit_seconds"
    try:
        finite = math.isfinite(limit)
    except OverflowError:  # an int too large for a float
        finite = False
    if not finite:
        yield Issue(path, "NOT_FINITE", f"must be a finite number, got {limit!r}")
    elif limit <= 0:
        yield Issue(path, "NOT_POSITIVE", f"must be > 0, got {limit}")
    yield from _bounded("$.options.seed", p.options.seed, MAX_SEED)


CHECKS: tuple[Callable[[Problem], Iterator[Issue]], ...] = (
    _check_sizes,
    _check_horizon,
    _check_ids,
    _check_shift_types,
    _check_employees,
    _check_requests,
    _check_cover,
    _check_options,
)


def validate(problem: Problem) -> list[Issue]:
    """Every semantic issue of a type-correct problem (at most MAX_ISSUES); [] if it is valid."""
    issues: list[Issue] = []
    for check in CHECKS:
        for issue in check(problem):
            if len(issues) == MAX_ISSUES:
                issues.append(Issue("$", "TOO_MANY_ISSUES", f"stopped after {MAX_ISSUES}"))
                return issues
            issues.append(issue)
    return issues


# -- decoding --------------------------------------------------------------------------------

# msgspec ends its messages with " - at `$.path`", or " - at `key` in `$.path`" for a dict key.
_AT = re.compile(r" - at `(?:key` in `)?(?P<path>\$[^`]*)`$")
_FIELD = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<name>.*)`$", re.S)


def _decode_issue(error: msgspec.ValidationError) -> Issue:
    text = str(error)
    path, what = "$", text
    if m := _AT.search(text):
        path, what = m["path"], text[: m.start()]
    if m := _FIELD.match(what):
        path = _key(path, m["name"])
    if "unknown field" in what:
        code = "UNKNOWN_FIELD"
    elif "missing required field" in what:
        code = "MISSING_FIELD"
    elif re.match(r"Expected `[^`]*`, got `", what):
        code = "INVALID_TYPE"
    elif "x00]*$" in what:  # the NUL-free pattern of domain.problem.Id and Name
        code, what = "NUL_CHARACTER", "text must not contain the NUL character (U+0000)"
    else:  # constraints (">= 1", "out of range", patterns), enum values, date formats
        code = "INVALID_VALUE"
    return Issue(path[:MAX_MESSAGE_CHARS], code, what[:MAX_MESSAGE_CHARS])


def decode_problem(data: bytes | str) -> Problem:
    """Decode and validate untrusted problem JSON; raise ProblemInvalid listing every issue."""
    try:
        problem = problem_decoder.decode(data)
    except msgspec.ValidationError as error:  # a subclass of DecodeError: test it first
        raise ProblemInvalid([_decode_issue(error)]) from None
    except msgspec.DecodeError as error:
        raise ProblemInvalid([Issue("$", "MALFORMED_JSON", str(error))]) from None
    except UnicodeError:  # a str holding lone surrogates cannot be read as UTF-8
        raise ProblemInvalid([Issue("$", "MALFORMED_JSON", "text is not valid UTF-8")]) from None
    if issues := validate(problem):
        raise ProblemInvalid(issues)
    return _without_markup(problem)


def _without_markup(problem: Problem) -> Problem:
    """The free-text names with any markup removed (domain/text.py): the one place where a
    problem from outside becomes one we store. Ids are left alone: they are keys that the
    client matches on, and markup in an id is only ever echoed inside JSON."""
    if problem.name is not None:
        problem.name = plain_text(problem.name)
    for item in (*problem.shift_types, *problem.employees):
        if item.name is not None:
            item.name = plain_text(item.name)
    return problem
