"""The independent evaluator: each hard rule once where it holds and once where it bites,
the exemptions at the horizon's ends, and the objective (FORMAT.md sections 4 and 5)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from domain.problem import (
    Assignment,
    Cover,
    Employee,
    Horizon,
    Penalties,
    Problem,
    Request,
    ShiftType,
)
from domain.solver.evaluator import RULES, Evaluation, evaluate, format_evaluation

MONDAY = dt.date(2024, 1, 1)
SATURDAY = dt.date(2024, 1, 6)
SUNDAY = dt.date(2024, 1, 7)


def make_problem(
    *employees: Employee,
    days: int = 7,
    start: dt.date = MONDAY,
    shift_types: list[ShiftType] | None = None,
    requests: list[Request] | None = None,
    cover: list[Cover] | None = None,
) -> Problem:
    """A tiny problem; by default shifts D (480 min) and N (600 min, N forbids D next)."""
    if shift_types is None:
        shift_types = [
            ShiftType(id="D", duration_minutes=480),
            ShiftType(id="N", duration_minutes=600, forbidden_next=["D"]),
        ]
    return Problem(
        horizon=Horizon(start=start, days=days),
        shift_types=shift_types,
        employees=list(employees) or [Employee(id="A")],
        requests=requests or [],
        cover=cover or [],
    )


def day(n: int, start: dt.date = MONDAY) -> dt.date:
    return start + dt.timedelta(days=n)


def roster(employee: str, pattern: str, start: dt.date = MONDAY) -> list[Assignment]:
    """One employee's week as a string, one character per day: a shift id or '-' for off."""
    return [
        Assignment(employee=employee, date=day(i, start), shift=s)
        for i, s in enumerate(pattern)
        if s != "-"
    ]


def rules(ev: Evaluation) -> list[str]:
    return [v.rule for v in ev.violations]


def check(employee: Employee, pattern: str, **kwargs) -> Evaluation:
    problem = make_problem(employee, days=len(pattern), **kwargs)
    return evaluate(problem, roster(employee.id, pattern, kwargs.get("start", MONDAY)))


# --- the result type ---------------------------------------------------------------------


def test_empty_roster_of_unconstrained_problem_is_feasible_and_free():
    ev = evaluate(make_problem(), [])
    assert ev.feasible
    assert ev.violations == []
    assert ev.penalties == Penalties()
    assert ev.objective == 0


def test_rule_names_are_stable():
    assert RULES == (
        "unknown_employee",
        "unknown_shift",
        "date_outside_horizon",
        "one_shift_per_day",
        "day_off",
        "forbidden_sequence",
        "max_shifts",
        "min_total_minutes",
        "max_total_minutes",
        "max_consecutive_shifts",
        "min_consecutive_shifts",
        "min_consecutive_days_off",
        "max_weekends",
    )


# --- assignments that fit nowhere --------------------------------------------------------


def test_unknown_employee():
    assert evaluate(make_problem(), roster("A", "D")).feasible
    ev = evaluate(make_problem(), roster("Z", "D"))
    assert rules(ev) == ["unknown_employee"]
    assert ev.violations[0].employee == "Z"
    assert ev.violations[0].dates == [MONDAY]


def test_unknown_shift_is_reported_and_ignored_by_other_rules():
    problem = make_problem(Employee(id="A", max_total_minutes=0))
    assert rules(evaluate(problem, roster("A", "X"))) == ["unknown_shift"]


def test_employee_id_equal_to_a_shift_id_is_not_confused():
    problem = make_problem(Employee(id="D"))
    assert evaluate(problem, roster("D", "N")).feasible
    assert rules(evaluate(problem, roster("N", "D"))) == ["unknown_employee"]


@pytest.mark.parametrize("date", [day(-1), day(7)])
def test_date_outside_horizon(date):
    assert evaluate(make_problem(), roster("A", "------D")).feasible
    ev = evaluate(make_problem(), [Assignment(employee="A", date=date, shift="D")])
    assert rules(ev) == ["date_outside_horizon"]
    assert ev.violations[0].dates == [date]


# --- hard rules --------------------------------------------------------------------------


def test_one_shift_per_day():
    problem = make_problem()
    assert evaluate(problem, roster("A", "D-D")).feasible
    ev = evaluate(problem, roster("A", "D") + roster("A", "N"))
    assert rules(ev) == ["one_shift_per_day"]
    assert ev.violations[0].dates == [MONDAY]


def test_duplicate_assignment_is_a_violation_but_counts_once_for_cover():
    cover = [Cover(date=MONDAY, shift="D", requirement=1, under_weight=100, over_weight=1)]
    problem = make_problem(cover=cover)
    ev = evaluate(problem, roster("A", "D") + roster("A", "D"))
    assert rules(ev) == ["one_shift_per_day"]
    assert ev.objective == 0


def test_day_off():
    employee = Employee(id="A", days_off=[day(2)])
    assert check(employee, "DD-DD").feasible
    ev = check(employee, "DDDDD")
    assert rules(ev) == ["day_off"]
    assert ev.violations[0].dates == [day(2)]


def test_day_off_outside_horizon_is_ignored():
    assert check(Employee(id="A", days_off=[day(30)]), "DDDDD").feasible


def test_forbidden_sequence():
    employee = Employee(id="A")
    assert check(employee, "DN-D").feasible  # D after N needs a day in between
    ev = check(employee, "DND")
    assert rules(ev) == ["forbidden_sequence"]
    assert ev.violations[0].dates == [day(1), day(2)]
    assert "N then D" in ev.violations[0].detail


def test_forbidden_sequence_of_a_shift_with_itself():
    shifts = [ShiftType(id="N", duration_minutes=600, forbidden_next=["N"])]
    employee = Employee(id="A")
    assert check(employee, "N-N", shift_types=shifts).feasible
    assert rules(check(employee, "NN", shift_types=shifts)) == ["forbidden_sequence"]


def test_forbidden_sequence_has_no_link_across_the_horizon_start():
    # The day before the horizon counts as off, so a D on day 0 is always allowed.
    assert check(Employee(id="A"), "D------").feasible


def test_max_shifts():
    employee = Employee(id="A", max_shifts={"D": 2})
    assert check(employee, "DD-NN").feasible  # N has no key: unlimited
    ev = check(employee, "DD-DN")
    assert rules(ev) == ["max_shifts"]
    assert ev.violations[0].dates == [day(0), day(1), day(3)]


def test_max_shifts_zero_means_never():
    employee = Employee(id="A", max_shifts={"N": 0})
    assert check(employee, "DDD").feasible
    assert rules(check(employee, "--N")) == ["max_shifts"]


def test_min_total_minutes():
    employee = Employee(id="A", min_total_minutes=1080)
    assert check(employee, "D-N").feasible  # 480 + 600 = 1080
    ev = check(employee, "D-D")
    assert rules(ev) == ["min_total_minutes"]
    assert "960" in ev.violations[0].detail


def test_min_total_minutes_bites_an_employee_with_no_assignment():
    assert rules(check(Employee(id="A", min_total_minutes=1), "---")) == ["min_total_minutes"]


def test_max_total_minutes():
    employee = Employee(id="A", max_total_minutes=1080)
    assert check(employee, "D-N").feasible
    assert rules(check(employee, "N-N")) == ["max_total_minutes"]


def test_max_consecutive_shifts():
    employee = Employee(id="A", max_consecutive_shifts=3)
    assert check(employee, "-DDD-DDD-").feasible
    ev = check(employee, "-DDDD----")
    assert rules(ev) == ["max_consecutive_shifts"]
    assert ev.violations[0].dates == [day(1), day(2), day(3), day(4)]
    assert ev.violations[0].detail == "run of 4 working days exceeds 3"


@pytest.mark.parametrize(
    ("pattern", "feasible"),
    [
        ("DDD----", True),  # touches day 0, measured inside the horizon only
        ("DDDD---", False),
        ("----DDD", True),  # touches the last day
        ("---DDDD", False),
    ],
)
def test_max_consecutive_shifts_at_the_horizon_ends(pattern, feasible):
    assert check(Employee(id="A", max_consecutive_shifts=3), pattern).feasible is feasible


def test_max_consecutive_counts_shifts_of_any_type():
    assert rules(check(Employee(id="A", max_consecutive_shifts=2), "DDN")) == [
        "max_consecutive_shifts"
    ]


def test_min_consecutive_shifts():
    employee = Employee(id="A", min_consecutive_shifts=2)
    assert check(employee, "-DD-DDD-").feasible
    ev = check(employee, "-DD-D---")
    assert rules(ev) == ["min_consecutive_shifts"]
    assert ev.violations[0].dates == [day(4)]


@pytest.mark.parametrize("pattern", ["D----", "----D", "DDDDD", "D---D"])
def test_min_consecutive_shifts_exempts_runs_at_the_horizon_ends(pattern):
    assert check(Employee(id="A", min_consecutive_shifts=2), pattern).feasible


def test_min_consecutive_days_off():
    employee = Employee(id="A", min_consecutive_days_off=2)
    assert check(employee, "D--D---D").feasible
    ev = check(employee, "D-DD--DD")
    assert rules(ev) == ["min_consecutive_days_off"]
    assert ev.violations[0].dates == [day(1)]


@pytest.mark.parametrize("pattern", ["-DDDD", "DDDD-", "-DDD-", "-----"])
def test_min_consecutive_days_off_exempts_runs_at_the_horizon_ends(pattern):
    assert check(Employee(id="A", min_consecutive_days_off=2), pattern).feasible


def test_missing_limits_mean_no_limit():
    assert check(Employee(id="A"), "DDDDDDDDDDDDDD").feasible
    assert check(Employee(id="A"), "D-D-D-D-D-D-D-").feasible


def test_max_weekends():
    employee = Employee(id="A", max_weekends=1)
    # Mon..Sun twice: the first weekend is worked twice, the second not at all.
    assert check(employee, "-----DD-------").feasible
    ev = check(employee, "-----D-------D")
    assert rules(ev) == ["max_weekends"]
    assert ev.violations[0].dates == [day(5), day(13)]
    assert ev.violations[0].detail == "works 2 weekends, at most 1"


def test_max_weekends_zero():
    employee = Employee(id="A", max_weekends=0)
    assert check(employee, "DDDDD--").feasible
    assert rules(check(employee, "------D")) == ["max_weekends"]


def test_weekends_follow_the_real_calendar_when_the_horizon_starts_on_a_saturday():
    employee = Employee(id="A", max_weekends=1)
    # Saturday and Sunday at the start are one weekend.
    assert check(employee, "DD-----", start=SATURDAY).feasible
    assert rules(check(employee, "D------D", start=SATURDAY)) == ["max_weekends"]


def test_a_horizon_starting_on_sunday_has_a_one_day_weekend_at_its_start():
    employee = Employee(id="A", max_weekends=1)
    # Day 0 is Sunday (its Saturday is outside the horizon), day 6 the next Saturday.
    assert check(employee, "-----DD", start=SUNDAY).feasible  # Sat+Sun of week 2
    ev = check(employee, "D-----D", start=SUNDAY)
    assert rules(ev) == ["max_weekends"]
    assert ev.violations[0].detail == "works 2 weekends, at most 1"


# --- objective ---------------------------------------------------------------------------


def on(date: dt.date, shift: str, weight: int = 1, employee: str = "A") -> Request:
    return Request(employee=employee, date=date, shift=shift, kind="on", weight=weight)


def off(date: dt.date, shift: str, weight: int = 1, employee: str = "A") -> Request:
    return Request(employee=employee, date=date, shift=shift, kind="off", weight=weight)


def test_on_request():
    problem = make_problem(requests=[on(MONDAY, "D", 3)])
    assert evaluate(problem, roster("A", "D")).penalties.requests_on == 0
    assert evaluate(problem, roster("A", "-")).penalties.requests_on == 3


def test_on_request_is_violated_by_a_different_shift():
    problem = make_problem(requests=[on(MONDAY, "D", 2)])
    assert evaluate(problem, roster("A", "N")).penalties.requests_on == 2


def test_off_request():
    problem = make_problem(requests=[off(MONDAY, "D", 2)])
    assert evaluate(problem, roster("A", "-")).penalties.requests_off == 0
    assert evaluate(problem, roster("A", "D")).penalties.requests_off == 2


def test_off_request_is_not_violated_by_a_different_shift():
    problem = make_problem(requests=[off(MONDAY, "D", 2)])
    assert evaluate(problem, roster("A", "N")).penalties.requests_off == 0


def test_duplicate_requests_each_count():
    problem = make_problem(requests=[on(MONDAY, "D", 2), on(MONDAY, "D", 3), off(day(1), "N")])
    penalties = evaluate(problem, roster("A", "-N")).penalties
    assert penalties == Penalties(requests_on=5, requests_off=1)


def cover(date: dt.date, shift: str, req: int, under: int = 100, over: int = 1) -> Cover:
    return Cover(date=date, shift=shift, requirement=req, under_weight=under, over_weight=over)


def test_cover_under_and_over():
    problem = make_problem(
        Employee(id="A"), Employee(id="B"), cover=[cover(MONDAY, "D", 1, under=7, over=5)]
    )
    assert evaluate(problem, roster("A", "D")).objective == 0
    assert evaluate(problem, []).penalties == Penalties(cover_under=7)
    both = roster("A", "D") + roster("B", "D")
    assert evaluate(problem, both).penalties == Penalties(cover_over=5)


def test_over_cover_with_requirement_zero_costs():
    problem = make_problem(cover=[cover(MONDAY, "N", 0, over=4)])
    assert evaluate(problem, []).objective == 0
    assert evaluate(problem, roster("A", "N")).penalties == Penalties(cover_over=4)


def test_pairs_without_a_cover_line_cost_nothing():
    problem = make_problem(cover=[cover(MONDAY, "D", 1)])
    assert evaluate(problem, roster("A", "D-NNNNN")).objective == 0


def test_hand_computed_objective_for_two_employees():
    # Three days, shifts D and N; A works D D -, B works N - N.
    problem = make_problem(
        Employee(id="A"),
        Employee(id="B"),
        days=3,
        requests=[
            on(day(0), "D", 2, "A"),  # kept: 0
            on(day(2), "D", 3, "A"),  # A is off: 3
            on(day(0), "D", 1, "B"),  # B works N instead: 1
            off(day(1), "D", 2, "A"),  # A works D: 2
            off(day(2), "D", 1, "B"),  # B works N, not D: 0
        ],
        cover=[
            cover(day(0), "D", 2, under=100, over=1),  # 1 of 2: 100
            cover(day(0), "N", 1, under=100, over=1),  # 1 of 1: 0
            cover(day(1), "D", 0, under=100, over=2),  # 1 of 0: 2
            cover(day(2), "N", 0, under=100, over=1),  # 1 of 0: 1
            cover(day(2), "D", 1, under=50, over=1),  # 0 of 1: 50
        ],
    )
    ev = evaluate(problem, roster("A", "DD-") + roster("B", "N-N"))
    assert ev.feasible
    assert ev.penalties == Penalties(requests_on=4, requests_off=2, cover_under=150, cover_over=3)
    assert ev.objective == 159


# --- report and speed --------------------------------------------------------------------


def test_format_evaluation_of_a_feasible_roster():
    problem = make_problem(requests=[on(MONDAY, "D", 3)])
    text = format_evaluation(evaluate(problem, []))
    assert "objective: 3" in text
    assert "requests on:  3" in text
    assert "feasible" in text


def test_format_evaluation_groups_violations_by_rule():
    employee = Employee(id="A", max_consecutive_shifts=2, days_off=[day(4)])
    text = format_evaluation(check(employee, "DDD-DDD"))
    assert "infeasible: 3 hard violations" in text
    assert "day_off (1)" in text
    assert "max_consecutive_shifts (2)" in text
    assert "A 2024-01-01..2024-01-03: run of 3 working days exceeds 2" in text
    assert text.index("day_off") < text.index("max_consecutive_shifts")


def test_a_year_for_fifty_employees_counts_every_cover_line():
    # Speed is measured by `make bench`, not asserted here; this checks the totals add up.
    rng = random.Random(7)
    shift_ids = [f"s{i}" for i in range(10)]
    shifts = [
        ShiftType(id=s, duration_minutes=480, forbidden_next=shift_ids[:i])
        for i, s in enumerate(shift_ids)
    ]
    limits = dict(
        min_total_minutes=0,
        max_total_minutes=10**6,
        min_consecutive_shifts=2,
        max_consecutive_shifts=5,
        min_consecutive_days_off=2,
        max_weekends=20,
        max_shifts=dict.fromkeys(shift_ids, 100),
    )
    employees = [
        Employee(id=f"e{i}", days_off=[day(rng.randrange(364)) for _ in range(10)], **limits)
        for i in range(50)
    ]
    requests = [
        Request(
            employee=f"e{rng.randrange(50)}",
            date=day(rng.randrange(364)),
            shift=rng.choice(shift_ids),
            kind=rng.choice(["on", "off"]),
            weight=rng.randint(1, 3),
        )
        for _ in range(5000)
    ]
    lines = [cover(day(d), s, rng.randrange(4)) for d in range(364) for s in shift_ids]
    problem = make_problem(*employees, days=364, shift_types=shifts, requests=requests, cover=lines)
    assignments = [
        Assignment(employee=e.id, date=day(d), shift=rng.choice(shift_ids))
        for e in employees
        for d in range(364)
        if rng.random() < 0.7
    ]
    ev = evaluate(problem, assignments)
    assert not ev.feasible
    counts: dict[tuple, int] = {}
    for a in assignments:
        counts[(a.date, a.shift)] = counts.get((a.date, a.shift), 0) + 1
    under = sum(
        c.under_weight * max(0, c.requirement - counts.get((c.date, c.shift), 0)) for c in lines
    )
    over = sum(
        c.over_weight * max(0, counts.get((c.date, c.shift), 0) - c.requirement) for c in lines
    )
    assert (ev.penalties.cover_under, ev.penalties.cover_over) == (under, over)
