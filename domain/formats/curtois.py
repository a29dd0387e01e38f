"""Importer of the Curtois & Qu nurse-rostering `.txt` format (bench/curtois/FORMAT.md).

The file's days are indices 0..H-1 with day 0 a Monday; our schema uses real dates and real
calendar weekends, so the horizon must start on a Monday for the weekend rule to match.
Employee and shift ids live in separate namespaces (employee `D` and shift `D` in Instance1).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from msgspec.structs import replace

from domain.problem import MAX_HORIZON_DAYS, Cover, Employee, Horizon, Problem, Request, ShiftType
from domain.validation import ProblemInvalid, decode_problem, validate

SECTIONS = (
    "SECTION_HORIZON",
    "SECTION_SHIFTS",
    "SECTION_STAFF",
    "SECTION_DAYS_OFF",
    "SECTION_SHIFT_ON_REQUESTS",
    "SECTION_SHIFT_OFF_REQUESTS",
    "SECTION_COVER",
)
_INT = re.compile(r"[0-9]+")  # every number in the format is a non-negative decimal integer


class CurtoisFormatError(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(line, message)
        self.line = line  # 1-based line number in the file
        self.message = message

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass(frozen=True)
class _Line:
    number: int
    fields: list[str]


@dataclass
class _Section:
    header_line: int
    lines: list[_Line]


def _split_sections(text: str) -> dict[str, _Section]:
    """Group data lines under their section header, checking the fixed section order."""
    sections: dict[str, _Section] = {}
    current: _Section | None = None
    number = 0
    # split("\n") rather than splitlines(): the latter also breaks on \v, \f, \x1c, ...
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.rstrip("\r")  # every file has CRLF line endings
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("SECTION_"):
            expected = SECTIONS[len(sections)] if len(sections) < len(SECTIONS) else None
            if line not in SECTIONS:
                raise CurtoisFormatError(number, f"unknown section {line!r}")
            if line != expected:
                raise CurtoisFormatError(
                    number, f"{line} is out of order or repeated (expected {expected or 'end'})"
                )
            current = sections[line] = _Section(number, [])
        elif current is None:
            raise CurtoisFormatError(number, "data before the first SECTION_ header")
        else:
            current.lines.append(_Line(number, line.split(",")))
    if len(sections) < len(SECTIONS):
        raise CurtoisFormatError(number, f"missing {SECTIONS[len(sections)]} (end of file)")
    return sections


def _fields(line: _Line, count: int, what: str) -> list[str]:
    if len(line.fields) != count:
        raise CurtoisFormatError(
            line.number, f"{what}: expected {count} fields, got {len(line.fields)}"
        )
    return line.fields


def _int(line: _Line, text: str, what: str) -> int:
    if not _INT.fullmatch(text):
        raise CurtoisFormatError(line.number, f"{what}: expected an integer >= 0, got {text!r}")
    return int(text)


def _new_id(line: _Line, text: str, seen: Container[str], what: str) -> str:
    if not text:
        raise CurtoisFormatError(line.number, f"empty {what} id")
    if text in seen:
        raise CurtoisFormatError(line.number, f"duplicate {what} id {text!r}")
    return text


def _ref(line: _Line, text: str, known: Container[str], what: str) -> str:
    if text not in known:
        raise CurtoisFormatError(line.number, f"unknown {what} {text!r}")
    return text


def _horizon(section: _Section) -> int:
    if not section.lines:
        raise CurtoisFormatError(section.header_line, "SECTION_HORIZON has no value")
    first, *rest = section.lines
    if rest:
        raise CurtoisFormatError(rest[0].number, "SECTION_HORIZON holds more than one line")
    days = _int(first, _fields(first, 1, "horizon")[0], "horizon")
    if not 1 <= days <= MAX_HORIZON_DAYS:  # also keeps the date arithmetic below in range
        raise CurtoisFormatError(first.number, f"horizon must be 1..{MAX_HORIZON_DAYS} days")
    return days


def _shifts(section: _Section) -> dict[str, ShiftType]:
    shifts: dict[str, ShiftType] = {}
    pending: list[tuple[_Line, str]] = []  # ForbiddenNext may name a shift defined later
    for line in section.lines:
        sid, length, forbidden = _fields(line, 3, "shift")
        sid = _new_id(line, sid, shifts, "shift")
        nexts = forbidden.split("|") if forbidden else []  # `D,480,` means none
        pending += [(line, n) for n in nexts]
        shifts[sid] = ShiftType(
            id=sid, duration_minutes=_int(line, length, "length"), forbidden_next=nexts
        )
    for line, n in pending:
        _ref(line, n, shifts, "shift")
    return shifts


def _max_shifts(line: _Line, text: str, shifts: dict[str, ShiftType]) -> dict[str, int]:
    result: dict[str, int] = {}
    for item in text.split("|") if text else []:
        key, eq, value = item.partition("=")
        if not eq:
            raise CurtoisFormatError(line.number, f"MaxShifts item {item!r} is not S=n")
        if key in result:
            raise CurtoisFormatError(line.number, f"MaxShifts lists {key!r} twice")
        result[_ref(line, key, shifts, "shift")] = _int(line, value, f"MaxShifts {key}")
    return result


def _staff(section: _Section, shifts: dict[str, ShiftType]) -> dict[str, Employee]:
    staff: dict[str, Employee] = {}
    for line in section.lines:
        eid, max_shifts, *numbers = _fields(line, 8, "staff")
        eid = _new_id(line, eid, staff, "employee")
        names = ("max_total", "min_total", "max_cons", "min_cons", "min_days_off", "weekends")
        v = [_int(line, text, name) for text, name in zip(numbers, names, strict=True)]
        staff[eid] = Employee(
            id=eid,
            max_shifts=_max_shifts(line, max_shifts, shifts),
            max_total_minutes=v[0],
            min_total_minutes=v[1],
            max_consecutive_shifts=v[2],
            min_consecutive_shifts=v[3],
            min_consecutive_days_off=v[4],
            max_weekends=v[5],
        )
    return staff


class _Days:
    """Turns a day index of the file into a date, checking it against the horizon."""

    def __init__(self, start: dt.date, days: int) -> None:
        self.start, self.days = start, days

    def __call__(self, line: _Line, text: str) -> dt.date:
        day = _int(line, text, "day")
        if day >= self.days:
            raise CurtoisFormatError(line.number, f"day {day} is outside 0..{self.days - 1}")
        return self.start + dt.timedelta(days=day)


def _days_off(
    section: _Section, staff: dict[str, Employee], date: _Days
) -> dict[str, list[dt.date]]:
    days_off: dict[str, list[dt.date]] = {}
    for line in section.lines:
        if len(line.fields) < 2:
            raise CurtoisFormatError(line.number, "days off: expected EmployeeID,Day[,Day...]")
        eid, *days = line.fields
        if _ref(line, eid, staff, "employee") in days_off:
            raise CurtoisFormatError(line.number, f"second days-off line for {eid!r}")
        days_off[eid] = [date(line, d) for d in days]
    return days_off


def _requests(
    section: _Section,
    kind: Literal["on", "off"],
    staff: dict[str, Employee],
    shifts: dict[str, ShiftType],
    date: _Days,
) -> list[Request]:
    requests = []
    for line in section.lines:
        eid, day, sid, weight = _fields(line, 4, f"{kind} request")
        requests.append(
            Request(
                employee=_ref(line, eid, staff, "employee"),
                date=date(line, day),
                shift=_ref(line, sid, shifts, "shift"),
                kind=kind,
                weight=_int(line, weight, "weight"),
            )
        )
    return requests


def _cover(section: _Section, shifts: dict[str, ShiftType], date: _Days) -> list[Cover]:
    cover = []
    for line in section.lines:
        day, sid, requirement, under, over = _fields(line, 5, "cover")
        cover.append(
            Cover(
                date=date(line, day),
                shift=_ref(line, sid, shifts, "shift"),
                requirement=_int(line, requirement, "requirement"),
                under_weight=_int(line, under, "under weight"),
                over_weight=_int(line, over, "over weight"),
            )
        )
    return cover


def parse_curtois(
    text: str, *, start: dt.date = dt.date(2024, 1, 1), name: str | None = None
) -> Problem:
    """Parse a Curtois `.txt` instance into a Problem whose day 0 is `start` (a Monday).

    `name` (e.g. the file's stem) becomes the problem's name.
    Raises CurtoisFormatError (with the 1-based line) for malformed content, ValueError for a
    bad `start`. The result is not validated; see `load_problem_file`.
    """
    if start.weekday() != 0:
        raise ValueError(
            f"start must be a Monday (day 0 of a Curtois instance is one, and weekends are "
            f"taken from the real calendar), got {start} ({start:%A})"
        )
    sections = _split_sections(text)
    days = _horizon(sections["SECTION_HORIZON"])
    if (dt.date.max - start).days < days - 1:
        raise ValueError(f"a {days}-day horizon from {start} runs past {dt.date.max}")
    date = _Days(start, days)
    shifts = _shifts(sections["SECTION_SHIFTS"])
    staff = _staff(sections["SECTION_STAFF"], shifts)
    days_off = _days_off(sections["SECTION_DAYS_OFF"], staff, date)
    on = _requests(sections["SECTION_SHIFT_ON_REQUESTS"], "on", staff, shifts, date)
    off = _requests(sections["SECTION_SHIFT_OFF_REQUESTS"], "off", staff, shifts, date)
    return Problem(
        name=name,
        horizon=Horizon(start=start, days=days),
        shift_types=list(shifts.values()),
        employees=[replace(e, days_off=days_off.get(e.id, [])) for e in staff.values()],
        requests=on + off,
        cover=_cover(sections["SECTION_COVER"], shifts, date),
    )


def _looks_like_curtois(path: Path, data: bytes) -> bool:
    head = data.lstrip()
    return path.suffix.lower() == ".txt" or head.startswith((b"#", b"SECTION_"))


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise CurtoisFormatError(line, "the file is not ASCII/UTF-8 text") from None


def load_problem_file(path: str | Path) -> Problem:
    """Read a problem for the CLI: a Curtois `.txt` instance or problem JSON, validated.

    Raises OSError, CurtoisFormatError or ProblemInvalid.
    """
    path = Path(path)
    data = path.read_bytes()
    if not _looks_like_curtois(path, data):
        return decode_problem(data)
    problem = parse_curtois(_text(data), name=path.stem)
    if issues := validate(problem):
        raise ProblemInvalid(issues)
    return problem
