"""domain.validation: every issue code at its path, all issues at once, and safe decoding."""

from __future__ import annotations

import math
import pickle
from collections.abc import Callable
from datetime import date, timedelta

import msgspec
import pytest

from domain.problem import (
    MAX_EMPLOYEES,
    MAX_SHIFT_TYPES,
    MAX_WEIGHT,
    Cover,
    Employee,
    Horizon,
    Problem,
    Request,
    ShiftType,
    encode,
)
from domain.validation import (
    MAX_ISSUES,
    MAX_LIMIT_MINUTES,
    Issue,
    ProblemInvalid,
    decode_problem,
    validate,
)

START = date(2024, 1, 1)


def valid_problem() -> Problem:
    """A week, shifts D and N, employee A with every limit and B with none (and unreferenced)."""
    return Problem(
        horizon=Horizon(start=START, days=7),
        shift_types=[
            ShiftType(id="D", duration_minutes=480, forbidden_next=["N"]),
            ShiftType(id="N", duration_minutes=600),
        ],
        employees=[
            Employee(
                id="A",
                max_shifts={"D": 5, "N": 2},
                min_total_minutes=960,
                max_total_minutes=2400,
                min_consecutive_shifts=2,
                max_consecutive_shifts=5,
                min_consecutive_days_off=1,
                max_weekends=1,
                days_off=[date(2024, 1, 3)],
            ),
            Employee(id="B"),
        ],
        requests=[
            Request(employee="A", date=START, shift="D", kind="on", weight=2),
            Request(employee="A", date=date(2024, 1, 7), shift="N", kind="off", weight=1),
        ],
        cover=[
            Cover(date=START, shift="D", requirement=1, under_weight=100, over_weight=1),
            Cover(date=START, shift="N", requirement=0, under_weight=100, over_weight=1),
        ],
    )


def _undated(p: Problem) -> None:
    """Drop everything dated, for cases that move the horizon itself."""
    p.requests, p.cover = [], []
    p.employees[0].days_off = []


def _set(path: Callable[[Problem], object], field: str, value: object) -> Callable:
    return lambda p: setattr(path(p), field, value)


def _a(p: Problem) -> Employee:
    return p.employees[0]


def _b(p: Problem) -> Employee:
    return p.employees[1]


def _days_zero(p: Problem) -> None:
    _undated(p)
    p.horizon.days = 0


def _horizon_past_9999(p: Problem) -> None:
    _undated(p)
    p.horizon.start = date(9999, 12, 27)


def _no_employees(p: Problem) -> None:
    p.employees, p.requests = [], []


def _too_many_employees(p: Problem) -> None:
    p.employees = [Employee(id=f"e{i}") for i in range(MAX_EMPLOYEES + 1)]
    p.requests = []


def _too_many_shifts(p: Problem) -> None:
    p.shift_types += [ShiftType(id=f"s{i}", duration_minutes=60) for i in range(MAX_SHIFT_TYPES)]


CASES: list[tuple[str, Callable[[Problem], None], str, str]] = [
    ("no employees", _no_employees, "$.employees", "EMPTY"),
    ("too many employees", _too_many_employees, "$.employees", "TOO_MANY"),
    ("too many shifts", _too_many_shifts, "$.shift_types", "TOO_MANY"),
    ("horizon 0", _days_zero, "$.horizon.days", "HORIZON_TOO_SHORT"),
    ("horizon 367", _set(lambda p: p.horizon, "days", 367), "$.horizon.days", "HORIZON_TOO_LONG"),
    ("horizon past 9999", _horizon_past_9999, "$.horizon", "HORIZON_OUT_OF_RANGE"),
    ("empty id", _set(_b, "id", ""), "$.employees[1].id", "INVALID_ID"),
    ("long id", _set(_b, "id", "x" * 65), "$.employees[1].id", "INVALID_ID"),
    ("duplicate employee", _set(_b, "id", "A"), "$.employees[1].id", "DUPLICATE_ID"),
    (
        "duplicate shift",
        lambda p: p.shift_types.append(ShiftType(id="N", duration_minutes=60)),
        "$.shift_types[2].id",
        "DUPLICATE_ID",
    ),
    (
        "forbidden_next unknown",
        _set(lambda p: p.shift_types[0], "forbidden_next", ["N", "X"]),
        "$.shift_types[0].forbidden_next[1]",
        "UNKNOWN_SHIFT",
    ),
    (
        "max_shifts unknown",
        _set(_b, "max_shifts", {"X": 1}),
        "$.employees[1].max_shifts.X",
        "UNKNOWN_SHIFT",
    ),
    (
        "max_shifts unknown, odd key",
        _set(_b, "max_shifts", {"night shift": 1}),
        '$.employees[1].max_shifts["night shift"]',
        "UNKNOWN_SHIFT",
    ),
    (
        "request shift",
        _set(lambda p: p.requests[1], "shift", "X"),
        "$.requests[1].shift",
        "UNKNOWN_SHIFT",
    ),
    ("cover shift", _set(lambda p: p.cover[1], "shift", "X"), "$.cover[1].shift", "UNKNOWN_SHIFT"),
    (
        "request employee",
        _set(lambda p: p.requests[0], "employee", "Z"),
        "$.requests[0].employee",
        "UNKNOWN_EMPLOYEE",
    ),
    (
        "request after horizon",
        _set(lambda p: p.requests[1], "date", START + timedelta(days=7)),
        "$.requests[1].date",
        "DATE_OUTSIDE_HORIZON",
    ),
    (
        "cover before horizon",
        _set(lambda p: p.cover[0], "date", START - timedelta(days=1)),
        "$.cover[0].date",
        "DATE_OUTSIDE_HORIZON",
    ),
    (
        "day off outside",
        _set(_a, "days_off", [date(2023, 1, 1)]),
        "$.employees[0].days_off[0]",
        "DATE_OUTSIDE_HORIZON",
    ),
    (
        "cover twice",
        lambda p: p.cover.append(msgspec.structs.replace(p.cover[0], requirement=3)),
        "$.cover[2]",
        "DUPLICATE_COVER",
    ),
    (
        "request weight",
        _set(lambda p: p.requests[0], "weight", -1),
        "$.requests[0].weight",
        "NEGATIVE_VALUE",
    ),
    (
        "requirement",
        _set(lambda p: p.cover[0], "requirement", -1),
        "$.cover[0].requirement",
        "NEGATIVE_VALUE",
    ),
    (
        "under weight",
        _set(lambda p: p.cover[0], "under_weight", -5),
        "$.cover[0].under_weight",
        "NEGATIVE_VALUE",
    ),
    (
        "over weight",
        _set(lambda p: p.cover[1], "over_weight", -5),
        "$.cover[1].over_weight",
        "NEGATIVE_VALUE",
    ),
    (
        "max_shifts value",
        _set(_b, "max_shifts", {"D": -1}),
        "$.employees[1].max_shifts.D",
        "NEGATIVE_VALUE",
    ),
    *[
        (f"{field} < 0", _set(_b, field, -1), f"$.employees[1].{field}", "NEGATIVE_VALUE")
        for field in (
            "min_total_minutes",
            "max_total_minutes",
            "min_consecutive_shifts",
            "max_consecutive_shifts",
            "min_consecutive_days_off",
            "max_weekends",
        )
    ],
    ("seed", _set(lambda p: p.options, "seed", -1), "$.options.seed", "NEGATIVE_VALUE"),
    (
        "weight",
        _set(lambda p: p.requests[0], "weight", MAX_WEIGHT + 1),
        "$.requests[0].weight",
        "VALUE_TOO_LARGE",
    ),
    (
        "huge weight",
        _set(lambda p: p.cover[0], "over_weight", 10**40),
        "$.cover[0].over_weight",
        "VALUE_TOO_LARGE",
    ),
    (
        "requirement",
        _set(lambda p: p.cover[0], "requirement", MAX_EMPLOYEES + 1),
        "$.cover[0].requirement",
        "VALUE_TOO_LARGE",
    ),
    (
        "duration over 24h",
        _set(lambda p: p.shift_types[1], "duration_minutes", 24 * 60 + 1),
        "$.shift_types[1].duration_minutes",
        "VALUE_TOO_LARGE",
    ),
    (
        "max_shifts over any horizon",
        _set(_b, "max_shifts", {"N": 367}),
        "$.employees[1].max_shifts.N",
        "VALUE_TOO_LARGE",
    ),
    *[
        (
            f"{field} too large",
            _set(_b, field, cap + 1),
            f"$.employees[1].{field}",
            "VALUE_TOO_LARGE",
        )
        for field, cap in (
            ("max_total_minutes", MAX_LIMIT_MINUTES),
            ("min_total_minutes", 7 * 24 * 60),  # more than 24 h on every day of the week
            ("max_consecutive_shifts", 366),
            ("min_consecutive_shifts", 7),
            ("min_consecutive_days_off", 7),
            ("max_weekends", 366),
        )
    ],
    ("seed", _set(lambda p: p.options, "seed", 2**31), "$.options.seed", "VALUE_TOO_LARGE"),
    (
        "total minutes",
        _set(_a, "min_total_minutes", 2401),
        "$.employees[0].min_total_minutes",
        "MIN_GREATER_THAN_MAX",
    ),
    (
        "consecutive",
        _set(_a, "min_consecutive_shifts", 6),
        "$.employees[0].min_consecutive_shifts",
        "MIN_GREATER_THAN_MAX",
    ),
    (
        "duration 0",
        _set(lambda p: p.shift_types[0], "duration_minutes", 0),
        "$.shift_types[0].duration_minutes",
        "NOT_POSITIVE",
    ),
    *[
        (
            f"time limit {v}",
            _set(lambda p: p.options, "time_limit_seconds", v),
            "$.options.time_limit_seconds",
            code,
        )
        for v, code in (
            (0.0, "NOT_POSITIVE"),
            (-1.0, "NOT_POSITIVE"),
            (math.nan, "NOT_FINITE"),
            (math.inf, "NOT_FINITE"),
            (10**400, "NOT_FINITE"),
        )
    ],
]


def test_valid_problem_has_no_issues() -> None:
    assert validate(valid_problem()) == []


def test_zero_limits_and_generous_maxima_are_allowed() -> None:
    p = valid_problem()
    p.employees[1] = Employee(
        id="B",
        max_shifts={"D": 0, "N": 31},  # a monthly template on a 7-day roster: never binds
        min_total_minutes=0,
        max_total_minutes=0,
        min_consecutive_shifts=0,
        max_consecutive_shifts=0,
        min_consecutive_days_off=0,
        max_weekends=0,
    )
    p.requests[0].weight = 0
    p.cover[0].requirement = 0
    assert validate(p) == []


@pytest.mark.parametrize(
    ("mutate", "path", "code"), [c[1:] for c in CASES], ids=[f"{c[3]}-{c[0]}" for c in CASES]
)
def test_each_code_is_reported_alone_at_its_path(
    mutate: Callable[[Problem], None], path: str, code: str
) -> None:
    p = valid_problem()
    mutate(p)
    assert [(i.path, i.code) for i in validate(p)] == [(path, code)]


def test_every_issue_is_reported_at_once() -> None:
    p = valid_problem()
    p.horizon.days = 400
    p.employees[1].id = "A"
    p.requests[0].employee = "Z"
    p.requests[1].shift = "X"
    p.cover[1].date = date(2030, 1, 1)
    p.options.time_limit_seconds = 0
    assert {(i.path, i.code) for i in validate(p)} == {
        ("$.horizon.days", "HORIZON_TOO_LONG"),
        ("$.employees[1].id", "DUPLICATE_ID"),
        ("$.requests[0].employee", "UNKNOWN_EMPLOYEE"),
        ("$.requests[1].shift", "UNKNOWN_SHIFT"),
        ("$.cover[1].date", "DATE_OUTSIDE_HORIZON"),
        ("$.options.time_limit_seconds", "NOT_POSITIVE"),
    }


def test_issue_list_is_capped() -> None:
    p = valid_problem()
    p.requests = [Request(employee="Z", date=START, shift="D", kind="on", weight=1)] * 2000
    issues = validate(p)
    assert len(issues) == MAX_ISSUES + 1
    assert issues[-1].code == "TOO_MANY_ISSUES"


def test_problem_invalid_is_readable_and_pickles() -> None:
    error = ProblemInvalid([Issue("$.a", "EMPTY", "x"), Issue("$.b[1]", "TOO_MANY", "y")])
    assert str(error) == "invalid problem (2 issues)\n  $.a: EMPTY: x\n  $.b[1]: TOO_MANY: y"
    copy = pickle.loads(pickle.dumps(error))
    assert copy.issues == error.issues


# -- decode_problem ----------------------------------------------------------------------------


def _json(mutate: Callable[[dict], None]) -> bytes:
    data = msgspec.to_builtins(valid_problem())
    mutate(data)
    return msgspec.json.encode(data)


def _decode_issues(data: bytes | str) -> list[tuple[str, str]]:
    with pytest.raises(ProblemInvalid) as caught:
        decode_problem(data)
    return [(i.path, i.code) for i in caught.value.issues]


def test_decode_round_trips_a_valid_problem() -> None:
    assert decode_problem(encode(valid_problem())) == valid_problem()
    assert decode_problem(encode(valid_problem()).decode()) == valid_problem()


@pytest.mark.parametrize(
    ("data", "path", "code"),
    [
        (b"{", "$", "MALFORMED_JSON"),
        (b"", "$", "MALFORMED_JSON"),
        (b"\xff", "$", "MALFORMED_JSON"),
        ('{"horizon": "\ud800"}', "$", "MALFORMED_JSON"),
        (b"[" * 100_000, "$", "INVALID_TYPE"),
        (b'{"a":' * 100_000, "$.a", "UNKNOWN_FIELD"),
        (b"[]", "$", "INVALID_TYPE"),
        (_json(lambda d: d["employees"][0].update(foo=1)), "$.employees[0].foo", "UNKNOWN_FIELD"),
        (_json(lambda d: d["horizon"].pop("days")), "$.horizon.days", "MISSING_FIELD"),
        (_json(lambda d: d["horizon"].update(days="7")), "$.horizon.days", "INVALID_TYPE"),
        (_json(lambda d: d["horizon"].update(days=0)), "$.horizon.days", "INVALID_VALUE"),
        (
            _json(lambda d: d["horizon"].update(start="2024-13-01")),
            "$.horizon.start",
            "INVALID_VALUE",
        ),
        (
            _json(lambda d: d["requests"][0].update(kind="maybe")),
            "$.requests[0].kind",
            "INVALID_VALUE",
        ),
        (
            _json(lambda d: d["employees"][0]["max_shifts"].update({"": 1})),
            "$.employees[0].max_shifts",
            "INVALID_VALUE",
        ),
        (
            _json(lambda d: d.update(options={"time_limit_seconds": 0})).replace(
                b":0}", b":1e400}"
            ),
            "$.options.time_limit_seconds",
            "INVALID_VALUE",
        ),
        (b'{"options": {"time_limit_seconds": NaN}}', "$", "MALFORMED_JSON"),
    ],
)
def test_decode_errors_map_to_codes(data: bytes | str, path: str, code: str) -> None:
    assert _decode_issues(data) == [(path, code)]


def test_decode_runs_the_semantic_checks() -> None:
    huge = _json(lambda d: d["horizon"].update(days=0)).replace(b'"days":0', b'"days":' + b"9" * 40)
    assert _decode_issues(huge) == [("$.horizon.days", "HORIZON_TOO_LONG")]
    both = _json(
        lambda d: (d["requests"][0].update(shift="X"), d["cover"][0].update(over_weight=-1))
    )
    assert _decode_issues(both) == [
        ("$.requests[0].shift", "UNKNOWN_SHIFT"),
        ("$.cover[0].over_weight", "NEGATIVE_VALUE"),
    ]


def test_decode_clips_echoed_input() -> None:
    data = _json(lambda d: d["requests"][0].update(kind="x" * 10_000))
    with pytest.raises(ProblemInvalid) as caught:
        decode_problem(data)
    assert len(caught.value.issues[0].message) <= 300


@pytest.mark.parametrize("field", ["id", "name"])
def test_a_nul_character_is_refused_with_its_own_code(field):
    raw = msgspec.json.decode(msgspec.json.encode(valid_problem()))
    raw["employees"][1][field] = "a\u0000b"
    with pytest.raises(ProblemInvalid) as caught:
        decode_problem(msgspec.json.encode(raw))
    (issue,) = caught.value.issues
    assert (issue.path, issue.code) == (f"$.employees[1].{field}", "NUL_CHARACTER")
