"""The CP-SAT model, one constraint family at a time (STYLE.md 8).

Each family gets a tiny instance where the rule holds at its edge (the solver reaches the
hand-computed optimum without breaking it, including the exemptions at the horizon's ends)
and one where it bites (cover or requests push towards breaking it: the optimum is the
hand-computed one, and worse than the optimum of the same problem without the rule). Every
roster is re-checked by the independent evaluator: no violation and the same objective.

Then the window model of the large-neighbourhood search (rules seen across the window's
edges, nothing changed outside it) and `roster_cost` against the evaluator.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from dataclasses import dataclass

import msgspec
import pytest
from ortools.sat.python import cp_model

from domain.problem import Cover, Employee, Horizon, Problem, Request, ShiftType
from domain.solver import cpsat, lns
from domain.solver.cost import roster_cost
from domain.solver.cpsat import solve_cpsat
from domain.solver.evaluator import Evaluation, evaluate
from domain.solver.feasibility import is_feasible
from domain.solver.heuristic_state import RosterState
from domain.solver.instance import OFF, Instance, Roster, compile_problem
from domain.solver.model import RosterModel
from domain.validation import validate

MONDAY = dt.date(2024, 1, 1)
SUNDAY = dt.date(2024, 1, 7)

DAY = ShiftType(id="D", duration_minutes=480)
NIGHT = ShiftType(id="N", duration_minutes=600)
PLAIN = [DAY, NIGHT]  # no rotation rule
ROTATING = [DAY, msgspec.structs.replace(NIGHT, forbidden_next=["D"])]  # no D the day after N


# --- builders ----------------------------------------------------------------------------


def make_problem(
    *employees: Employee,
    days: int,
    start: dt.date = MONDAY,
    shifts: list[ShiftType] | None = None,
    requests: list[Request] | None = None,
    cover: list[Cover] | None = None,
) -> Problem:
    problem = Problem(
        horizon=Horizon(start=start, days=days),
        shift_types=list(PLAIN if shifts is None else shifts),
        employees=list(employees) or [Employee(id="A")],
        requests=requests or [],
        cover=cover or [],
    )
    assert validate(problem) == []
    return problem


def date(day: int, start: dt.date = MONDAY) -> dt.date:
    return start + dt.timedelta(days=day)


def on(employee: str, day: int, shift: str, weight: int = 1, start: dt.date = MONDAY) -> Request:
    return Request(employee=employee, date=date(day, start), shift=shift, kind="on", weight=weight)


def off(employee: str, day: int, shift: str, weight: int = 1, start: dt.date = MONDAY) -> Request:
    return Request(employee=employee, date=date(day, start), shift=shift, kind="off", weight=weight)


def demand(
    day: int, shift: str, requirement: int, under: int = 100, over: int = 1, start=MONDAY
) -> Cover:
    return Cover(
        date=date(day, start),
        shift=shift,
        requirement=requirement,
        under_weight=under,
        over_weight=over,
    )


def every_shift_costs(days: int, shifts: str = "DN", weight: int = 1) -> list[Cover]:
    """Cover lines that want nobody: each shift worked costs `weight` (over-cover)."""
    return [demand(d, s, 0, over=weight) for d in range(days) for s in shifts]


def relax(problem: Problem, **changes) -> Problem:
    """The same problem with `changes` applied to every employee (e.g. a rule removed)."""
    employees = [msgspec.structs.replace(e, **changes) for e in problem.employees]
    return msgspec.structs.replace(problem, employees=employees)


def row(inst: Instance, roster: Roster, e: int) -> str:
    return "".join("-" if s == OFF else inst.shift_ids[s] for s in roster[e])


def parse(inst: Instance, rows: list[str]) -> Roster:
    index = {s: i for i, s in enumerate(inst.shift_ids)}
    return [[OFF if c == "-" else index[c] for c in r] for r in rows]


@dataclass(frozen=True)
class Solved:
    inst: Instance
    roster: Roster
    objective: int
    evaluation: Evaluation

    def row(self, e: int = 0) -> str:
        return row(self.inst, self.roster, e)


def solve(problem: Problem, workers: int = 1) -> Solved:
    """Solve to optimality and check the roster with the independent evaluator."""
    inst = compile_problem(problem)
    result = solve_cpsat(inst, time_limit=5, workers=workers)
    assert result.status == "optimal"
    assert result.roster is not None
    assert result.objective is not None
    evaluation = evaluate(problem, inst.assignments(result.roster))
    assert evaluation.violations == []
    assert evaluation.objective == result.objective
    return Solved(inst, result.roster, result.objective, evaluation)


# --- rule 1: one shift per day (RosterVars) ----------------------------------------------


def test_one_shift_per_day_holds_with_enough_people():
    cover = [demand(0, "D", 1, under=10), demand(0, "N", 1, under=7)]
    solved = solve(make_problem(Employee(id="A"), Employee(id="B"), days=1, cover=cover))
    assert solved.objective == 0
    assert sorted(solved.row(e) for e in range(2)) == ["D", "N"]


def test_one_shift_per_day_bites_under_cover_demand():
    cover = [demand(0, "D", 1, under=10), demand(0, "N", 1, under=7)]
    solved = solve(make_problem(days=1, cover=cover))
    assert solved.objective == 7
    assert solved.row() == "D"


def test_one_shift_per_day_bites_under_two_on_requests():
    requests = [on("A", 0, "D", 2), on("A", 0, "N", 3)]
    solved = solve(make_problem(days=1, requests=requests))
    assert solved.objective == 2
    assert solved.row() == "N"


# --- rule 2: fixed days off --------------------------------------------------------------


def test_days_off_hold():
    employee = Employee(id="A", days_off=[date(2)])
    requests = [on("A", d, "D") for d in (0, 1, 3, 4)]
    solved = solve(make_problem(employee, days=5, requests=requests))
    assert solved.objective == 0
    assert solved.row()[2] == "-"


def test_days_off_bite():
    employee = Employee(id="A", days_off=[date(1)])
    problem = make_problem(
        employee, days=3, requests=[on("A", 1, "D", 4)], cover=[demand(1, "N", 1, under=10)]
    )
    solved = solve(problem)
    assert solved.objective == 14  # request 4 + one person short on N, 10
    assert solved.row()[1] == "-"
    assert solve(relax(problem, days_off=[])).objective == 4  # works N, misses the request


# --- rule 3: rotation --------------------------------------------------------------------


def test_rotation_holds_for_allowed_successors():
    requests = [on("A", 0, "D"), on("A", 1, "N"), on("A", 2, "N"), on("A", 4, "D")]
    solved = solve(make_problem(days=5, shifts=ROTATING, requests=requests))
    assert solved.objective == 0
    assert solved.row() == "DNN-D"  # day 3 can be neither D (after N) nor N (before D)


def test_rotation_bites_on_the_last_pair_of_days():
    requests = [on("A", 1, "N", 3), on("A", 2, "D", 2)]
    problem = make_problem(days=3, shifts=ROTATING, requests=requests)
    solved = solve(problem)
    assert solved.objective == 2
    assert solved.row()[1] == "N"
    assert solved.row()[2] != "D"
    assert solve(make_problem(days=3, shifts=PLAIN, requests=requests)).objective == 0


def test_rotation_of_a_shift_with_itself():
    shifts = [msgspec.structs.replace(NIGHT, forbidden_next=["N"])]
    requests = [on("A", d, "N") for d in range(4)]
    solved = solve(make_problem(days=4, shifts=shifts, requests=requests))
    assert solved.objective == 2
    assert "NN" not in solved.row()


def test_rotation_bites_under_cover_demand():
    cover = [demand(0, "N", 1, under=10), demand(1, "D", 1, under=7)]
    problem = make_problem(days=2, shifts=ROTATING, cover=cover)
    solved = solve(problem)
    assert solved.objective == 7
    assert solved.row()[0] == "N"
    assert solve(make_problem(days=2, shifts=PLAIN, cover=cover)).objective == 0
    two = make_problem(Employee(id="A"), Employee(id="B"), days=2, shifts=ROTATING, cover=cover)
    assert solve(two).objective == 0  # a second person takes the day shift


# --- rule 4: max shifts per type ----------------------------------------------------------


def test_shift_limits_hold_at_the_limit():
    employee = Employee(id="A", max_shifts={"D": 2, "N": 7})  # 7 >= H: no effect
    requests = [on("A", 0, "D"), on("A", 3, "D")] + [on("A", d, "N") for d in (1, 2, 4, 5, 6)]
    solved = solve(make_problem(employee, days=7, requests=requests))
    assert solved.objective == 0
    assert solved.row() == "DNNDNNN"


def test_shift_limits_bite():
    employee = Employee(id="A", max_shifts={"D": 2})
    requests = [on("A", d, "D", w) for d, w in enumerate([1, 3, 2, 1])]
    problem = make_problem(employee, days=4, requests=requests)
    solved = solve(problem)
    assert solved.objective == 2  # drops the two requests of weight 1
    assert solved.row()[1:3] == "DD"
    assert solved.row().count("D") == 2
    assert solve(relax(problem, max_shifts={})).objective == 0


def test_shift_limit_one_below_the_horizon_bites():
    employee = Employee(id="A", max_shifts={"D": 3})
    problem = make_problem(
        employee, days=4, shifts=[DAY], requests=[on("A", d, "D") for d in range(4)]
    )
    solved = solve(problem)
    assert solved.objective == 1
    assert solved.row().count("D") == 3


def test_shift_limit_zero_is_a_missing_qualification():
    a = Employee(id="A", max_shifts={"D": 0})
    problem = make_problem(
        a,
        Employee(id="B"),
        days=2,
        requests=[on("A", 0, "D", 5), on("A", 1, "N", 1)],
        cover=[demand(0, "D", 2, under=10)],
    )
    solved = solve(problem)
    assert solved.objective == 15  # A's request (5) and one person short (10)
    assert solved.row(0)[0] != "D"
    assert solved.row(0)[1] == "N"
    assert solved.row(1)[0] == "D"
    assert solve(relax(problem, max_shifts={})).objective == 0


# --- rule 5: total minutes ---------------------------------------------------------------


def test_total_minutes_hold_at_both_bounds():
    employee = Employee(id="A", min_total_minutes=1080, max_total_minutes=1080)
    requests = [on("A", 0, "D"), on("A", 1, "N")]
    solved = solve(make_problem(employee, days=3, requests=requests))
    assert solved.objective == 0
    assert solved.row() == "DN-"  # 480 + 600 = 1080; any more would pass the maximum


def test_max_total_minutes_bites():
    employee = Employee(id="A", max_total_minutes=1000)
    requests = [on("A", 0, "N", 3), on("A", 1, "D", 1), on("A", 2, "D", 1)]
    problem = make_problem(employee, days=3, requests=requests)
    solved = solve(problem)
    assert solved.objective == 2  # N + D = 1080 > 1000: keep N, drop both D
    assert solved.row() == "N--"
    assert solve(relax(problem, max_total_minutes=None)).objective == 0


def test_max_total_minutes_zero_means_never():
    employee = Employee(id="A", max_total_minutes=0)
    solved = solve(make_problem(employee, days=2, requests=[on("A", 0, "D", 4)]))
    assert solved.objective == 4
    assert solved.row() == "--"


def test_min_total_minutes_bites():
    employee = Employee(id="A", min_total_minutes=1000)
    problem = make_problem(employee, days=3, cover=every_shift_costs(3))
    solved = solve(problem)
    assert solved.objective == 2  # two shifts, one of them N: D + D = 960 is short
    assert "N" in solved.row()
    assert len(solved.row().replace("-", "")) == 2
    assert solve(relax(problem, min_total_minutes=None)).objective == 0


@pytest.mark.parametrize(
    "employee",
    [
        Employee(id="A", min_total_minutes=1500),  # 2 x 600 at most
        Employee(id="A", min_total_minutes=480, max_shifts={"D": 0, "N": 0}),
        Employee(id="A", min_total_minutes=480, days_off=[date(0), date(1)]),
    ],
    ids=["too-few-days", "no-qualification", "all-days-off"],
)
def test_min_total_minutes_out_of_reach_is_infeasible(employee):
    # Someone who may work no shift at all has no variable, so the family sees only constants;
    # the minimum must still make the problem infeasible, not be skipped.
    problem = make_problem(employee, days=2)
    result = solve_cpsat(compile_problem(problem), time_limit=5, workers=1)
    assert result.status == "infeasible"
    assert result.roster is None


# --- rule 6: max consecutive shifts ------------------------------------------------------


def test_max_consecutive_holds_for_runs_touching_both_ends():
    # The days outside the horizon count as off: runs of exactly K at either end are legal.
    employee = Employee(id="A", max_consecutive_shifts=2)
    requests = [on("A", d, "D") for d in (0, 1, 3, 4)]
    solved = solve(make_problem(employee, days=5, requests=requests))
    assert solved.objective == 0
    assert solved.row() == "DD-DD"


def test_max_consecutive_bites():
    employee = Employee(id="A", max_consecutive_shifts=2)
    problem = make_problem(employee, days=5, requests=[on("A", d, "D") for d in range(5)])
    solved = solve(problem)
    assert solved.objective == 1
    assert solved.row() == "DD-DD"
    assert solve(relax(problem, max_consecutive_shifts=None)).objective == 0


@pytest.mark.parametrize("wanted", [range(0, 4), range(3, 7), range(2, 6)])
def test_max_consecutive_windows_at_the_ends(wanted):
    # The first and the last K+1-day window are constrained too (measured inside the horizon).
    employee = Employee(id="A", max_consecutive_shifts=3)
    problem = make_problem(employee, days=7, requests=[on("A", d, "D") for d in wanted])
    solved = solve(problem)
    assert solved.objective == 1
    assert "DDDD" not in solved.row()
    assert solve(relax(problem, max_consecutive_shifts=None)).objective == 0


def test_max_consecutive_over_the_whole_horizon():
    employee = Employee(id="A", max_consecutive_shifts=2)
    solved = solve(make_problem(employee, days=3, requests=[on("A", d, "D") for d in range(3)]))
    assert solved.objective == 1


def test_max_consecutive_zero_means_never():
    employee = Employee(id="A", max_consecutive_shifts=0)
    solved = solve(make_problem(employee, days=3, requests=[on("A", 1, "N", 2)]))
    assert solved.objective == 2
    assert solved.row() == "---"


# --- rule 7: min consecutive shifts ------------------------------------------------------


def test_min_consecutive_holds_for_short_runs_at_both_ends():
    # Runs that touch day 0 or day H-1 are exempt (FORMAT.md 4.7).
    employee = Employee(id="A", min_consecutive_shifts=3)
    problem = make_problem(
        employee,
        days=5,
        requests=[on("A", 0, "D", 5), on("A", 4, "D", 5)],
        cover=every_shift_costs(5),
    )
    solved = solve(problem)
    assert solved.objective == 2
    assert solved.row() == "D---D"


def test_min_consecutive_bites_inside_the_horizon():
    employee = Employee(id="A", min_consecutive_shifts=3)
    problem = make_problem(
        employee, days=7, requests=[on("A", 3, "D", 5)], cover=every_shift_costs(7)
    )
    solved = solve(problem)
    assert solved.objective == 3  # a run of 3 around day 3 (reaching an end costs 4)
    worked = [d for d, c in enumerate(solved.row()) if c != "-"]
    assert len(worked) == 3
    assert 3 in worked
    assert worked == list(range(worked[0], worked[0] + 3))
    assert solve(relax(problem, min_consecutive_shifts=None)).objective == 1


@pytest.mark.parametrize(("wanted", "expected"), [(3, "---DD"), (1, "DD---")])
def test_min_consecutive_run_may_stop_at_an_end(wanted, expected):
    # A run that reaches day H-1 (or starts on day 0) is exempt even if it starts late.
    employee = Employee(id="A", min_consecutive_shifts=3)
    problem = make_problem(
        employee,
        days=5,
        requests=[on("A", wanted, "D", 5)],
        shifts=[DAY],
        cover=every_shift_costs(5, "D"),
    )
    solved = solve(problem)
    assert solved.objective == 2
    assert solved.row() == expected
    assert solve(relax(problem, min_consecutive_shifts=None)).objective == 1


# --- rule 8: min consecutive days off ----------------------------------------------------


def test_min_days_off_holds_for_short_breaks_at_both_ends():
    employee = Employee(id="A", min_consecutive_days_off=3)
    requests = [on("A", d, "D") for d in (1, 2, 3)] + [off("A", d, "D", 5) for d in (0, 4)]
    solved = solve(make_problem(employee, days=5, shifts=[DAY], requests=requests))
    assert solved.objective == 0
    assert solved.row() == "-DDD-"


def test_min_days_off_bites_inside_the_horizon():
    employee = Employee(id="A", min_consecutive_days_off=2)
    requests = [on("A", d, "D") for d in (0, 1, 3, 4)] + [off("A", 2, "D", 3)]
    problem = make_problem(employee, days=5, shifts=[DAY], requests=requests)
    solved = solve(problem)
    assert solved.objective == 1
    assert solved.row() in ("DD--D", "D--DD")
    assert solve(relax(problem, min_consecutive_days_off=None)).objective == 0


def test_min_days_off_break_may_run_into_the_end():
    employee = Employee(id="A", min_consecutive_days_off=3)
    requests = [on("A", d, "D") for d in (0, 1, 2, 3, 5)] + [off("A", 4, "D", 5)]
    problem = make_problem(employee, days=6, shifts=[DAY], requests=requests)
    solved = solve(problem)
    assert solved.objective == 1  # a one-day break on day 4 is too short; 4-5 reaches the end
    assert solved.row() == "DDDD--"
    assert solve(relax(problem, min_consecutive_days_off=None)).objective == 0


def test_min_days_off_and_fixed_days_off_together():
    # The fixed day off on day 2 starts a break that must last two days.
    employee = Employee(id="A", min_consecutive_days_off=2, days_off=[date(2)])
    requests = [on("A", d, "D", w) for d, w in [(0, 1), (1, 1), (3, 3), (4, 1)]]
    problem = make_problem(employee, days=5, shifts=[DAY], requests=requests)
    solved = solve(problem)
    assert solved.objective == 1
    assert solved.row() == "D--DD"


# --- rule 9: max weekends ----------------------------------------------------------------


def test_weekends_hold_when_both_days_are_one_weekend():
    employee = Employee(id="A", max_weekends=1)
    requests = [on("A", d, "D") for d in (0, 5, 6, 7)]
    solved = solve(make_problem(employee, days=14, requests=requests))
    assert solved.objective == 0
    assert solved.row()[12:14] == "--"


def test_weekends_bite():
    employee = Employee(id="A", max_weekends=1)
    requests = [on("A", 5, "D", 2), on("A", 12, "D", 3), on("A", 13, "N", 3)]
    problem = make_problem(employee, days=14, requests=requests)
    solved = solve(problem)
    assert solved.objective == 2
    assert solved.row()[5:7] == "--"
    assert solved.row()[12:14] == "DN"
    assert solve(relax(problem, max_weekends=None)).objective == 0


def test_weekends_of_a_horizon_starting_on_sunday():
    # Day 0 is a Sunday (its Saturday is outside the horizon) and counts as a weekend alone;
    # days 6-7 are one weekend, day 13 (a Saturday) another: three weekends in all.
    employee = Employee(id="A", max_weekends=2)
    requests = [on("A", 0, "D", 1, SUNDAY), on("A", 6, "D", 2, SUNDAY)]
    requests += [on("A", 7, "D", 2, SUNDAY), on("A", 13, "D", 3, SUNDAY)]
    problem = make_problem(employee, days=14, start=SUNDAY, requests=requests)
    solved = solve(problem)
    assert solved.objective == 1
    assert solved.row()[0] == "-"
    assert solved.row()[6:8] == "DD"
    assert solved.row()[13] == "D"
    assert solve(relax(problem, max_weekends=None)).objective == 0
    holds = make_problem(employee, days=14, start=SUNDAY, requests=requests[1:])
    assert solve(holds).objective == 0


def test_weekends_zero_means_weekdays_only():
    employee = Employee(id="A", max_weekends=0)
    requests = [on("A", d, "D") for d in range(7)]
    solved = solve(make_problem(employee, days=7, requests=requests))
    assert solved.objective == 2
    assert solved.row() == "DDDDD--"


# --- soft: requests ----------------------------------------------------------------------


def test_on_request_is_missed_by_another_shift():
    problem = make_problem(
        days=1, requests=[on("A", 0, "D", 3)], cover=[demand(0, "N", 1, under=5)]
    )
    solved = solve(problem)
    assert solved.objective == 3
    assert solved.row() == "N"
    assert solved.evaluation.penalties.requests_on == 3


def test_on_request_is_missed_by_a_day_off():
    problem = make_problem(
        days=1, shifts=[DAY], requests=[on("A", 0, "D", 3)], cover=[demand(0, "D", 0, over=5)]
    )
    solved = solve(problem)
    assert solved.objective == 3
    assert solved.row() == "-"


def test_off_request_is_missed_only_by_its_own_shift():
    requests = [off("A", 0, "D", 3), off("A", 1, "D", 5)]
    cover = [demand(0, "D", 1, under=2), demand(1, "N", 1, under=1)]
    solved = solve(make_problem(days=2, requests=requests, cover=cover))
    assert solved.objective == 2  # no D on day 0 (cover short, 2); day 1 works N for free
    assert solved.row()[0] != "D"
    assert solved.row()[1] == "N"
    assert solved.evaluation.penalties.requests_off == 0


def test_duplicate_requests_add_up_and_zero_weights_are_inert():
    requests = [on("A", 0, "D", 2), on("A", 0, "D", 2), on("A", 1, "D", 0)]
    cover = [demand(0, "D", 0, over=3), demand(1, "D", 0, over=1)]
    solved = solve(make_problem(days=2, requests=requests, cover=cover))
    assert solved.objective == 3  # working day 0 costs 3 < missing the two requests, 4
    assert solved.row() == "D-"


# --- soft: cover -------------------------------------------------------------------------


def test_cover_holds_with_exact_staffing():
    employees = [Employee(id=x) for x in "ABC"]
    cover = [demand(0, "D", 2, under=10)]
    solved = solve(make_problem(*employees, days=1, shifts=[DAY], cover=cover))
    assert solved.objective == 0
    assert sorted(solved.row(e) for e in range(3)) == ["-", "D", "D"]


def test_cover_bites_when_staff_is_short():
    employees = [Employee(id="A"), Employee(id="B", days_off=[date(0)])]
    cover = [demand(0, "D", 3, under=10), demand(0, "N", 1, under=4)]
    solved = solve(make_problem(*employees, days=1, cover=cover))
    assert solved.objective == 24  # A works D (2 short, 20), N is 1 short (4)
    assert solved.row(0) == "D"


def test_over_cover_costs_even_with_requirement_zero():
    requests = [on("A", 0, "D", 3), on("A", 1, "D", 3)]
    cover = [demand(0, "D", 0, over=2), demand(1, "D", 0, over=4)]
    solved = solve(make_problem(days=2, requests=requests, cover=cover))
    assert solved.objective == 5  # works day 0 (over 2), skips day 1 (request 3)
    assert solved.row() == "D-"


def test_cover_without_a_line_or_with_zero_weights_is_free():
    employees = [Employee(id="A"), Employee(id="B")]
    requests = [on("A", 0, "D", 1), on("B", 0, "D", 1), on("A", 1, "N", 1)]
    cover = [demand(0, "D", 0, under=0, over=0)]
    solved = solve(make_problem(*employees, days=2, requests=requests, cover=cover))
    assert solved.objective == 0
    assert solved.row(0) == "DN"


@pytest.mark.parametrize("workers", [1, 2])
def test_rules_together(workers):
    # Runs of at most 3 with breaks of at least 2 allow 5 working days out of 7 ("DDD--DD"):
    # 10 shifts for 14 demanded, so 4 are short.
    employees = [Employee(id=x, max_consecutive_shifts=3, min_consecutive_days_off=2) for x in "AB"]
    cover = [demand(d, s, 1, under=10) for d in range(7) for s in "DN"]
    problem = make_problem(*employees, days=7, shifts=ROTATING, cover=cover)
    assert solve(problem, workers=workers).objective == 40


# --- the window model of the large-neighbourhood search ----------------------------------


def repair(
    problem: Problem,
    context_rows: list[str],
    *,
    window: tuple[int, int] | None = None,
    free: list[int] | None = None,
) -> Solved:
    """Solve the window/subset model around `context_rows` and check what may have changed."""
    inst = compile_problem(problem)
    context = parse(inst, context_rows)
    rm = RosterModel(inst, window=window, context=context, free_employees=free)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 5
    solver.parameters.num_workers = 1
    assert solver.solve(rm.model) == cp_model.OPTIMAL
    roster = rm.vars.extract(solver.boolean_value)
    lo, hi = window if window is not None else (0, inst.days)
    for e in range(inst.n_employees):
        for d in range(inst.days):
            if not (lo <= d < hi and (free is None or e in free)):
                assert roster[e][d] == context[e][d], (e, d)
    objective = round(solver.objective_value)
    # The model prices its own days; the rest of the roster is a constant it leaves out.
    assert objective == roster_cost(inst, roster, rm.vars.free_days())
    evaluation = evaluate(problem, inst.assignments(roster))
    assert evaluation.violations == []
    return Solved(inst, roster, objective, evaluation)


def test_window_changes_only_days_inside_it():
    employees = [Employee(id="A"), Employee(id="B")]
    requests = [on(x, d, "D") for x in "AB" for d in range(7)]
    problem = make_problem(*employees, days=7, requests=requests)
    repaired = repair(problem, ["-------", "N-N-N-N"], window=(2, 5))
    assert repaired.row(0) == "--DDD--"
    assert repaired.row(1) == "N-DDD-N"
    assert repaired.evaluation.objective == 8  # the 4 + 4 requests outside the window


@pytest.mark.parametrize(
    ("context", "window", "first_off", "cost"),
    [
        ("DDD-----", (3, 8), 3, 2),  # the run 0-2 may not go on into the window
        ("---DDD--", (0, 3), 2, 1),  # the run 3-5 may not start earlier inside the window
    ],
)
def test_window_sees_max_consecutive_across_its_edges(context, window, first_off, cost):
    employee = Employee(id="A", max_consecutive_shifts=3)
    problem = make_problem(employee, days=8, requests=[on("A", d, "D") for d in range(*window)])
    repaired = repair(problem, [context], window=window)
    assert repaired.row()[first_off] == "-"
    assert "DDDD" not in repaired.row()
    assert repaired.evaluation.objective == cost


def test_window_sees_rotation_across_its_edges():
    requests = [on("A", 2, "D"), on("A", 3, "N"), on("A", 4, "D", 5)]
    problem = make_problem(days=6, shifts=ROTATING, requests=requests)
    repaired = repair(problem, ["-N----"], window=(2, 4))
    # No D on day 2 after the fixed N of day 1; day 4 lies outside the window and stays off.
    assert repaired.row() in ("-N-N--", "-NNN--")
    assert repaired.evaluation.objective == 1 + 5
    left = repair(
        make_problem(days=4, shifts=ROTATING, requests=[on("A", 2, "N", 2)]),
        ["---D"],
        window=(0, 3),
    )
    assert left.row()[2] != "N"  # N on day 2 would clash with the fixed D of day 3
    assert left.evaluation.objective == 2


@pytest.mark.parametrize(
    ("context", "window", "forced"),
    [
        ("--DD----", (4, 8), 4),  # the run 2-3 must go on into the window
        ("----DD--", (0, 4), 3),  # the run 4-5 must start earlier, inside the window
    ],
)
def test_window_sees_min_consecutive_across_its_edges(context, window, forced):
    employee = Employee(id="A", min_consecutive_shifts=3)
    problem = make_problem(employee, days=8, shifts=[DAY], requests=[off("A", forced, "D", 5)])
    repaired = repair(problem, [context], window=window)
    assert repaired.row()[forced] == "D"
    assert repaired.evaluation.objective == 5


def test_window_sees_min_days_off_across_its_edges():
    employee = Employee(id="A", min_consecutive_days_off=2)
    requests = [on("A", 2, "D", 5), on("A", 3, "D"), on("A", 4, "D")]
    problem = make_problem(employee, days=5, shifts=[DAY], requests=requests)
    repaired = repair(problem, ["D----"], window=(2, 5))
    assert repaired.row() == "D--DD"  # the break that starts on day 1 lasts two days
    assert repaired.evaluation.objective == 5


def test_window_sees_horizon_wide_totals():
    employee = Employee(id="A", max_weekends=1, max_shifts={"D": 3}, max_total_minutes=2400)
    requests = [on("A", 12, "D", 3), on("A", 13, "D", 3), on("A", 7, "D", 1), on("A", 8, "D", 1)]
    requests += [on("A", d, "N", 1) for d in (9, 10)]
    problem = make_problem(employee, days=14, requests=requests)
    # The context outside the window already holds one weekend, two D and 960 minutes.
    repaired = repair(problem, ["-----DD" + "-" * 7], window=(7, 14))
    assert repaired.row()[12:14] == "--"  # a second weekend is not allowed
    assert repaired.row()[7:11].count("D") <= 1  # a third D at most
    # With D + N + N the total would be 960 + 480 + 1200 = 2640 > 2400: two requests are lost.
    assert repaired.evaluation.objective == 3 + 3 + 2


def test_free_employees_change_only_their_own_rows():
    employees = [Employee(id="A"), Employee(id="B")]
    requests = [on("A", d, "N", 5) for d in range(4)] + [on("B", 2, "D", 3)]
    cover = [demand(d, "D", 1, under=10, over=1) for d in range(4)]
    problem = make_problem(*employees, days=4, requests=requests, cover=cover)
    repaired = repair(problem, ["DDDD", "----"], free=[1])
    assert repaired.row(0) == "DDDD"
    assert repaired.row(1) == "--D-"  # the request (3) is worth the extra person (1)
    assert repaired.evaluation.objective == 20 + 1


def test_window_and_free_employees_together():
    employees = [Employee(id="A"), Employee(id="B")]
    requests = [on(x, d, "D") for x in "AB" for d in range(5)]
    problem = make_problem(*employees, days=5, requests=requests)
    repaired = repair(problem, ["-----", "-----"], window=(1, 4), free=[0])
    assert repaired.row(0) == "-DDD-"
    assert repaired.row(1) == "-----"
    assert repaired.evaluation.objective == 2 + 5


def test_window_over_the_whole_horizon_reaches_the_full_optimum():
    employees = [Employee(id=x, max_consecutive_shifts=3, min_consecutive_shifts=2) for x in "AB"]
    cover = [demand(d, s, 1, under=10) for d in range(7) for s in "DN"]
    problem = make_problem(*employees, days=7, shifts=ROTATING, cover=cover)
    full = solve(problem)
    repaired = repair(problem, ["-------", "-------"], window=(0, 7))
    assert repaired.objective == full.objective


def test_window_needs_a_context():
    inst = compile_problem(make_problem(days=3))
    with pytest.raises(ValueError):
        RosterModel(inst, window=(0, 2))
    with pytest.raises(ValueError):
        RosterModel(inst, free_employees=[0])


def test_window_counts_the_fixed_employees_on_its_days():
    # B is held fixed on D over the window: the window model sees one D already staffed,
    # and prices B's own request (a constant) with its days.
    employees = [Employee(id="A"), Employee(id="B")]
    cover = [demand(d, "D", 1, under=10, over=4) for d in range(4)]
    problem = make_problem(*employees, days=4, cover=cover, requests=[on("B", 2, "N", 2)])
    repaired = repair(problem, ["----", "DDDD"], window=(1, 3), free=[0])
    assert repaired.row(0) == "----"  # a second D would be over-cover
    assert repaired.objective == 2  # B's request inside the window, not met
    assert repaired.evaluation.objective == 2


# --- the large-neighbourhood search loop (lns.py) -----------------------------------------


def crowded_problem(days: int = 14) -> Problem:
    """Four people, cover that cannot all be met, and rules that make rows interlock."""
    employees = [
        Employee(
            id=x,
            max_consecutive_shifts=4,
            min_consecutive_shifts=2,
            min_consecutive_days_off=2,
            max_weekends=1,
        )
        for x in "ABCD"
    ]
    cover = [demand(d, s, 1 + (d % 3 == 0)) for d in range(days) for s in "DN"]
    wishes = zip("ABCD", (1, 4, 8, 11), strict=True)
    requests = [on(x, d, "D", 2) for x, d in wishes if d < days]
    return make_problem(*employees, days=days, shifts=ROTATING, cover=cover, requests=requests)


def test_lns_improves_and_every_roster_it_reports_is_feasible():
    problem = crowded_problem()
    inst = compile_problem(problem)
    start = parse(inst, ["DDD----DDD----", "--NN-----NN---", "-" * 14, "-" * 14])
    assert is_feasible(inst, start)
    seen: list[tuple[Roster, int]] = []
    best = lns.improve(
        inst,
        start,
        deadline=time.monotonic() + 3,
        seed=1,
        on_improvement=lambda r, c: seen.append((r, c)),
    )
    assert seen
    costs = [c for _, c in seen]
    assert costs == sorted(costs, reverse=True)
    assert len(set(costs)) == len(costs)  # each one strictly better
    for roster, cost in seen:
        evaluation = evaluate(problem, inst.assignments(roster))
        assert evaluation.violations == []
        assert evaluation.objective == cost
    assert roster_cost(inst, best) == costs[-1] < roster_cost(inst, start)


def test_a_repair_of_an_older_roster_is_applied_only_if_still_feasible():
    inst = compile_problem(crowded_problem(days=7))
    checker = RosterState(inst)
    base = parse(inst, ["DD-----", "-------", "-------", "-------"])
    current = parse(inst, ["DD---DD", "-------", "-------", "-------"])  # moved on since
    move = lns._Move(lns._Size(1, 1, 1), 2, 7, [0])
    # The repair of `base` works A on Friday and Saturday: carried over to `current` (days
    # 2-6 of A replaced) that breaks nothing, so it is taken ...
    better = parse(inst, ["DD--DD-", "-------", "-------", "-------"])
    ok = lns._rebase(inst, checker, current, base, better, move)
    assert ok is not None
    assert ok[0] == parse(inst, ["DD--DD-"])[0]
    # ... but working days 2-6 as well makes a run of 7 > 4: refused.
    too_long = parse(inst, ["DDDDDDD", *["-------"] * 3])
    assert lns._rebase(inst, checker, current, base, too_long, move) is None
    # A repair of the current roster itself is taken as it is.
    assert lns._rebase(inst, checker, current, current, too_long, move) is too_long


def test_a_targeted_neighbourhood_covers_the_hole_and_someone_who_can_fill_it():
    problem = crowded_problem(days=98)  # a long horizon: hole-targeted neighbourhoods
    inst = compile_problem(problem)
    roster = [[OFF] * inst.days for _ in range(inst.n_employees)]
    hoods = lns._Neighbourhoods(inst, random.Random(3))
    hoods.target_share, hoods.everyone_share = 1.0, 0.0
    for _ in range(20):
        move = hoods.draw(roster)
        assert move.free is not None
        # Every day and shift is a hole of the empty roster; the one drawn lies in the
        # window, and the crew holds the employees able to fill it (here: everybody).
        assert move.hi - move.lo == hoods.span
        assert len(move.free) == min(round(hoods.crew.value), inst.n_employees)


@pytest.mark.parametrize(("days", "span"), [(42, 42), (84, 84), (98, 14)])
def test_crews_span_the_whole_horizon_up_to_twelve_weeks(days, span):
    # Trading a half-worked weekend for a whole one moves a worked weekend between people,
    # often weeks apart; beyond 12 weeks longer crews gained nothing and two-week ones did
    # better than four (docs/solver.md).
    inst = compile_problem(crowded_problem(days=days))
    hoods = lns._Neighbourhoods(inst, random.Random(0))
    hoods.everyone_share, hoods.target_share, hoods.request_share = 0.0, 0.0, 0.0
    move = hoods.draw([[OFF] * days for _ in range(inst.n_employees)])
    assert (hoods.span, move.hi - move.lo) == (span, span)


@pytest.mark.parametrize(
    ("code", "change"),
    [
        (cp_model.OPTIMAL, "grows"),
        (cp_model.INFEASIBLE, "grows"),
        (cp_model.FEASIBLE, "shrinks"),  # improved, but out of time
        (cp_model.UNKNOWN, "shrinks"),
    ],
)
def test_a_neighbourhood_grows_when_its_repair_ends_in_time_and_shrinks_when_it_runs_out(
    code, change
):
    size = lns._Size(4.0, 2.0, 8.0)
    lns._Neighbourhoods.record(lns._Move(size, 0, 7, None), code)
    assert (size.value > 4.0, size.value < 4.0) == (change == "grows", change == "shrinks")


def test_repairs_beyond_twelve_weeks_get_less_time_than_shorter_horizons_do():
    # Beyond 84 days there are far more crews to repair than a solve gets through.
    assert lns.move_seconds(28) == lns.move_seconds(84) == lns.MOVE_SECONDS
    assert lns.move_seconds(85) == lns.move_seconds(364) == lns.LONG_MOVE_SECONDS
    assert lns.LONG_MOVE_SECONDS < lns.MOVE_SECONDS


def test_shortfall_finds_only_understaffed_pairs():
    inst = compile_problem(make_problem(days=2, cover=[demand(0, "D", 1), demand(1, "N", 1)]))
    rng = random.Random(0)
    assert lns._shortfall(inst, parse(inst, ["DN"]), rng) is None
    assert lns._shortfall(inst, parse(inst, ["D-"]), rng) == (1, 1)
    assert lns._shortfall(inst, parse(inst, ["NN"]), rng) == (0, 0)


def test_unmet_request_finds_only_requests_not_granted():
    requests = [on("A", 0, "D", weight=2), off("A", 1, "N", weight=3)]
    inst = compile_problem(make_problem(days=2, requests=requests))
    rng = random.Random(0)
    assert lns._unmet_request(inst, parse(inst, ["D-"]), rng) is None
    assert lns._unmet_request(inst, parse(inst, ["DD"]), rng) is None
    assert lns._unmet_request(inst, parse(inst, ["DN"]), rng) == (0, 1, 1)  # N asked off
    assert lns._unmet_request(inst, parse(inst, ["N-"]), rng) == (0, 0, 0)  # D asked on


def test_a_request_neighbourhood_frees_the_asker_and_someone_to_trade_with():
    problem = crowded_problem(days=28)
    problem = msgspec.structs.replace(problem, requests=[on("A", 9, "N")])
    inst = compile_problem(problem)
    # A works D on day 9 and asks for N; C works N that day and could swap with A.
    roster = [[OFF] * inst.days for _ in range(inst.n_employees)]
    roster[0][9], roster[2][9] = 0, 1
    hoods = lns._Neighbourhoods(inst, random.Random(5))
    hoods.request_share, hoods.everyone_share, hoods.target_share = 1.0, 0.0, 0.0
    hoods.crew = lns._Size(2.0, 2.0, 2.0)
    for _ in range(10):
        move = hoods.draw(roster)
        assert move.free == [0, 2]
        assert move.lo <= 9 < move.hi


def test_four_weeks_target_requests_longer_horizons_target_holes():
    def shares(days: int) -> tuple[float, float]:
        hoods = lns._Neighbourhoods(compile_problem(crowded_problem(days)), random.Random(0))
        return hoods.target_share, hoods.request_share

    assert shares(28) == (0.0, 0.5)
    assert shares(42) == shares(84) == (0.5, 0.0)
    assert shares(98) == (lns.LONG[3], 0.0)


# --- roster_cost against the evaluator ---------------------------------------------------


def random_problem(rng: random.Random) -> Problem:
    days = rng.randint(1, 10)
    start = MONDAY + dt.timedelta(days=rng.randint(0, 6))
    shift_ids = ["D", "E", "N"][: rng.randint(1, 3)]
    shifts = [ShiftType(id=s, duration_minutes=rng.choice([240, 480, 600])) for s in shift_ids]
    employees = [Employee(id=f"e{i}") for i in range(rng.randint(1, 4))]
    requests = [
        Request(
            employee=rng.choice(employees).id,
            date=date(rng.randrange(days), start),
            shift=rng.choice(shift_ids),
            kind=rng.choice(["on", "off"]),
            weight=rng.randint(0, 3),
        )
        for _ in range(rng.randint(0, 12))  # duplicates and several per day included
    ]
    cover = [
        demand(d, s, rng.randint(0, 3), rng.randint(0, 100), rng.randint(0, 3), start)
        for d in range(days)
        for s in shift_ids
        if rng.random() < 0.7
    ]
    return make_problem(
        *employees, days=days, start=start, shifts=shifts, requests=requests, cover=cover
    )


@pytest.mark.parametrize("seed", range(30))
def test_roster_cost_equals_the_evaluator_objective(seed):
    rng = random.Random(seed)
    problem = random_problem(rng)
    inst = compile_problem(problem)
    for _ in range(5):
        roster = [
            [rng.choice([OFF, *range(inst.n_shifts)]) for _ in range(inst.days)]
            for _ in range(inst.n_employees)
        ]
        total = roster_cost(inst, roster)
        assert total == evaluate(problem, inst.assignments(roster)).objective
        cut = rng.randint(0, inst.days)
        head = roster_cost(inst, roster, range(cut))
        assert head + roster_cost(inst, roster, range(cut, inst.days)) == total


def test_small_models_keep_the_full_model_for_the_whole_time_limit():
    # Instance5 (16 x 28 x 2 = 896 cells) and smaller: CP-SAT's own portfolio; Instance7
    # (1,680) and larger: the full model's share, then window repairs.
    assert cpsat.full_model_share(896) == 1.0
    assert cpsat.full_model_share(cpsat.FULL_MODEL_ONLY_MAX_CELLS + 1) == cpsat.FULL_MODEL_SHARE
    assert cpsat.full_model_share(1_680, 0.3) == 0.3


def test_without_a_feasible_roster_the_full_model_keeps_the_rest_of_the_time(monkeypatch):
    # Instance6 (1,512 cells) gets the full model's share first; a hint that breaks a rule
    # (nobody works: the minimum minutes) leaves the windows nothing to improve, so when the
    # share finds no roster the full model is run again for the rest of the time limit.
    from domain.formats.curtois import parse_curtois
    from tests.benchmark_data import curtois_instance

    inst = compile_problem(parse_curtois(curtois_instance(6).read_text()))
    nobody = [[OFF] * inst.days for _ in range(inst.n_employees)]
    assert not is_feasible(inst, nobody)
    real, asked = cpsat._solve_full, []

    def share_finds_nothing(instance, seconds, *rest):
        asked.append(seconds)
        if len(asked) == 1:
            return "unknown", None, None
        return real(instance, seconds, *rest)

    monkeypatch.setattr(cpsat, "_solve_full", share_finds_nothing)
    result = solve_cpsat(inst, time_limit=4.0, workers=2, hint=nobody)
    assert asked[0] == pytest.approx(4.0 * cpsat.FULL_MODEL_SHARE)
    assert len(asked) >= 2
    assert asked[1] > 3.0
    assert result.roster is not None
    assert is_feasible(inst, result.roster)
