"""The counting bound (domain/solver/bounds.py): what it counts, and that CP-SAT's
optimum never lies below it. Brute force checks it on random problems in test_properties."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from domain.formats.curtois import load_problem_file
from domain.problem import Cover, Employee, Horizon, Problem, ShiftType
from domain.solver import cpsat
from domain.solver.bounds import cover_lower_bound, type_places_short, weekend_places_short
from domain.solver.cpsat import solve_cpsat
from domain.solver.heuristic import solve_heuristic
from domain.solver.instance import compile_problem
from domain.validation import validate
from tests.benchmark_data import curtois_instance
from tests.unit.test_properties import brute_force_optimum

MONDAY = dt.date(2024, 1, 1)
SHIFTS = [ShiftType(id="D", duration_minutes=480), ShiftType(id="L", duration_minutes=600)]


def problem(
    employees: list[Employee], cover: list[Cover], days: int = 14, start: dt.date = MONDAY
) -> Problem:
    p = Problem(
        horizon=Horizon(start=start, days=days),
        shift_types=SHIFTS,
        employees=employees,
        requests=[],
        cover=cover,
    )
    assert validate(p) == []
    return p


def need(
    day: int, shift: str, requirement: int, under: int = 100, start: dt.date = MONDAY
) -> Cover:
    return Cover(
        date=start + dt.timedelta(days=day),
        shift=shift,
        requirement=requirement,
        under_weight=under,
        over_weight=1,
    )


WEEKEND_DAYS = (5, 6, 12, 13)  # the two weekends of a fortnight from a Monday


def test_weekends_beyond_the_maximum_leave_a_shortfall():
    # Two people who may each work one weekend staff at most 4 of the 8 places asked for.
    people = [Employee(id=x, max_weekends=1) for x in "AB"]
    cover = [need(d, s, 1) for d in WEEKEND_DAYS for s in "DL"]
    assert cover_lower_bound(compile_problem(problem(people, cover))) == 4 * 100


def test_without_a_weekend_limit_nothing_is_forced():
    people = [Employee(id=x) for x in "AB"]
    cover = [need(d, "D", 1) for d in WEEKEND_DAYS]
    assert cover_lower_bound(compile_problem(problem(people, cover))) == 0


def test_days_off_reduce_what_a_person_can_staff():
    # A may work one weekend but has both Sundays off; B may work no weekend at all.
    days_off = [MONDAY + dt.timedelta(days=6), MONDAY + dt.timedelta(days=13)]
    people = [
        Employee(id="A", max_weekends=1, days_off=days_off),
        Employee(id="B", max_weekends=0),
    ]
    cover = [need(d, "D", 1) for d in WEEKEND_DAYS]
    assert cover_lower_bound(compile_problem(problem(people, cover))) == 3 * 100


def test_maximum_minutes_cap_the_days_worked_over_the_horizon():
    # 2,000 minutes are at most four 480-minute shifts: 8 weekday places leave 4 short.
    people = [Employee(id="A", max_total_minutes=2000)]
    cover = [need(d, "D", 1) for d in range(10) if d not in WEEKEND_DAYS]
    assert cover_lower_bound(compile_problem(problem(people, cover))) == 4 * 100


def test_shifts_a_person_may_not_work_do_not_shorten_their_shortest():
    # A may not work D (480): 2,000 minutes are then at most three L shifts (600).
    people = [Employee(id="A", max_total_minutes=2000, max_shifts={"D": 0})]
    cover = [need(d, "L", 1) for d in range(10) if d not in WEEKEND_DAYS]
    assert cover_lower_bound(compile_problem(problem(people, cover))) == 5 * 100


def test_the_smallest_under_weight_prices_the_shortfall():
    people = [Employee(id="A", max_weekends=0)]
    cover = [need(5, "D", 1, under=7), need(6, "D", 2, under=30)]
    assert cover_lower_bound(compile_problem(problem(people, cover))) == 3 * 7


def test_caps_on_a_shift_type_leave_that_type_short():
    # Two people may work L at most twice each: 6 L places leave 2 short, while their days
    # and minutes would staff all of them.
    people = [Employee(id=x, max_shifts={"L": 2}) for x in "AB"]
    cover = [need(d, "L", 1) for d in range(14) if d not in WEEKEND_DAYS][:6]
    inst = compile_problem(problem(people, cover))
    assert type_places_short(inst) == [0, 2]
    assert cover_lower_bound(inst) == 2 * 100


def test_the_shortfalls_of_two_types_add_up_each_at_its_own_weight():
    people = [Employee(id="A", max_shifts={"D": 1, "L": 1})]
    cover = [need(0, "D", 1, under=7), need(1, "D", 1, under=9), need(2, "D", 1, under=7)]
    cover += [need(3, "L", 2, under=30)]
    inst = compile_problem(problem(people, cover))
    assert type_places_short(inst) == [2, 1]
    assert cover_lower_bound(inst) == 2 * 7 + 1 * 30


def test_days_a_person_may_not_work_count_against_their_cap():
    # A may work D five times but has all but two of the demanded days off.
    demanded = [0, 1, 2, 3]
    days_off = [MONDAY + dt.timedelta(days=d) for d in demanded[2:]]
    people = [Employee(id="A", max_shifts={"D": 5}, days_off=days_off)]
    inst = compile_problem(problem(people, [need(d, "D", 1) for d in demanded]))
    assert type_places_short(inst) == [2, 0]


def test_curtois_instance8_is_twelve_nights_short():
    inst = compile_problem(load_problem_file(curtois_instance(8)))
    assert type_places_short(inst) == [0, 0, 0, 12]
    assert cover_lower_bound(inst) == 1200


@pytest.mark.parametrize("limit", [0, 1])
def test_the_optimum_is_never_below_the_bound(limit):
    people = [Employee(id=x, max_weekends=limit, max_consecutive_shifts=3) for x in "AB"]
    cover = [need(d, s, 2) for d in range(7) for s in "DL"]
    inst = compile_problem(problem(people, cover, days=7))
    result = solve_cpsat(inst, time_limit=10, workers=2)
    assert result.status == "optimal"
    assert cover_lower_bound(inst) <= result.objective
    assert result.bound == result.objective


@settings(derandomize=True, database=None, deadline=None, max_examples=40)
@given(
    n_people=st.integers(1, 3),
    start=st.integers(0, 6),
    days=st.integers(3, 5),
    limits=st.lists(st.none() | st.integers(0, 1), min_size=3, max_size=3),
    minutes=st.lists(st.none() | st.integers(480, 1500), min_size=3, max_size=3),
    caps=st.lists(st.none() | st.integers(0, 2), min_size=3, max_size=3),
    requirement=st.integers(1, 2),
    under=st.integers(1, 100),
)
def test_no_roster_beats_the_bound_by_brute_force(
    n_people, start, days, limits, minutes, caps, requirement, under
):
    # Tight cover, few weekends, few minutes and few D shifts, so the bound usually binds.
    first = MONDAY + dt.timedelta(days=start)
    people = [
        Employee(
            id=f"E{i}",
            max_weekends=limits[i],
            max_total_minutes=minutes[i],
            max_shifts={} if caps[i] is None else {"D": caps[i]},
        )
        for i in range(n_people)
    ]
    cover = [need(d, "D", requirement, under, start=first) for d in range(days)]
    p = problem(people, cover, days=days, start=first)
    floor = cover_lower_bound(compile_problem(p))
    event("bound binds" if floor else "bound 0")
    brute = brute_force_optimum(p)
    assert brute is not None  # no minimum and no run rule: every row of days off is feasible
    assert floor <= brute[0]


def test_a_solve_without_the_full_model_still_reports_the_counting_bound(monkeypatch):
    # Large instances with a feasible hint skip the full model, so CP-SAT proves no bound.
    monkeypatch.setattr(cpsat, "FULL_MODEL_MAX_CELLS", 0)
    people = [Employee(id=x, max_weekends=0) for x in "AB"]
    cover = [need(d, "D", 1) for d in range(14)]
    inst = compile_problem(problem(people, cover))
    hint = solve_heuristic(inst, time_limit=0.5)
    result = solve_cpsat(inst, time_limit=2, workers=2, hint=hint)
    assert result.stats["full_model"] == "skipped: large instance, feasible hint"
    assert result.bound == cover_lower_bound(inst) == 4 * 100
    assert result.objective is not None
    assert result.objective >= result.bound


def test_weekend_places_short_counts_places_not_cost():
    people = [Employee(id=x, max_weekends=1) for x in "AB"]
    short = [need(d, s, 1, under=7) for d in WEEKEND_DAYS for s in "DL"]
    assert weekend_places_short(compile_problem(problem(people, short))) == 4
    enough = [need(d, "D", 1) for d in (5, 6)]
    assert weekend_places_short(compile_problem(problem(people, enough))) == 0
