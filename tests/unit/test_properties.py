"""Property tests: every roster CP-SAT returns passes the independent evaluator (STYLE.md 8).

Random small problems (any weekday as the start, random rotation bans, limits some of which
are None, days off, requests and cover). When CP-SAT reports a roster, the evaluator must find
no violation and the same objective. On tiny problems brute force checks the rest: that an
"infeasible" problem has no feasible roster, and that an "optimal" objective is the optimum.

Brute force relies on one fact of the rules (FORMAT.md 4): every hard rule concerns a single
employee, so a roster is feasible exactly when each employee's own row is, and only the cover
lines link employees in the objective. Each employee's feasible rows are enumerated with the
evaluator; the best combination is found by dynamic programming over the cover counts.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Sequence

import msgspec
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from ortools.sat.python import cp_model

from domain.problem import Assignment, Cover, Employee, Horizon, Problem, Request, ShiftType
from domain.solver.bounds import cover_lower_bound
from domain.solver.cost import roster_cost
from domain.solver.cpsat import solve_cpsat
from domain.solver.evaluator import evaluate
from domain.solver.instance import compile_problem
from domain.solver.model import RosterModel
from domain.validation import validate

MONDAY = dt.date(2024, 1, 1)
SHIFT_IDS = ("D", "E", "N")
DURATIONS = (240, 480, 600, 720)
WEIGHTS = (0, 1, 2, 3, 10, 100)

# Reproducible in CI: the same examples on every run, and no example database on disk.
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def optional(strategy: st.SearchStrategy) -> st.SearchStrategy:
    return st.none() | strategy


@st.composite
def employees(draw, eid: str, shift_ids: Sequence[str], dates: Sequence[dt.date]) -> Employee:
    days = len(dates)
    max_shifts = draw(
        st.dictionaries(st.sampled_from(list(shift_ids)), st.integers(0, days + 1), max_size=3)
    )
    # Minimums up to 6 h a day; a maximum at least one long shift above the minimum. Tighter
    # pairs make most problems infeasible, which the brute-force tests already cover.
    min_total = draw(optional(st.integers(0, days * 360)))
    floor = 0 if min_total is None else min_total + max(DURATIONS)
    max_total = draw(optional(st.integers(floor, floor + days * 720)))
    max_run = draw(optional(st.integers(0, days)))
    min_run = draw(optional(st.integers(0, min(days, max_run if max_run is not None else days))))
    return Employee(
        id=eid,
        max_shifts=max_shifts,
        min_total_minutes=min_total,
        max_total_minutes=max_total,
        min_consecutive_shifts=min_run,
        max_consecutive_shifts=max_run,
        min_consecutive_days_off=draw(optional(st.integers(0, min(days, 4)))),
        max_weekends=draw(optional(st.integers(0, 3))),
        days_off=draw(st.lists(st.sampled_from(list(dates)), unique=True, max_size=days // 3)),
    )


@st.composite
def problems(
    draw,
    *,
    n_employees: tuple[int, int] = (2, 5),
    n_days: tuple[int, int] = (5, 14),
    n_shifts: tuple[int, int] = (1, 3),
    max_rows: int | None = None,
) -> Problem:
    """A valid problem; `max_rows` caps (shifts + 1) ** (days * employees) for brute force."""
    n_s = draw(st.integers(*n_shifts))
    n_e = draw(st.integers(*n_employees))
    high = n_days[1]
    if max_rows is not None:
        while (n_s + 1) ** (high * n_e) > max_rows and high > n_days[0]:
            high -= 1
    n_d = draw(st.integers(n_days[0], high))
    start = MONDAY + dt.timedelta(days=draw(st.integers(0, 6)))
    dates = [start + dt.timedelta(days=d) for d in range(n_d)]
    shift_ids = list(SHIFT_IDS[:n_s])
    shifts = [
        ShiftType(
            id=s,
            duration_minutes=draw(st.sampled_from(DURATIONS)),
            forbidden_next=draw(
                st.lists(st.sampled_from(shift_ids), unique=True, max_size=max(1, n_s - 1))
            ),
        )
        for s in shift_ids
    ]
    staff = [draw(employees(f"e{i}", shift_ids, dates)) for i in range(n_e)]
    requests = draw(
        st.lists(
            st.builds(
                Request,
                employee=st.sampled_from([e.id for e in staff]),
                date=st.sampled_from(dates),
                shift=st.sampled_from(shift_ids),
                kind=st.sampled_from(["on", "off"]),
                weight=st.sampled_from(WEIGHTS[:4]),
            ),
            max_size=2 * n_d,
        )
    )
    lines = draw(
        st.lists(st.tuples(st.sampled_from(dates), st.sampled_from(shift_ids)), unique=True)
    )
    cover = [
        Cover(
            date=date,
            shift=shift,
            requirement=draw(st.integers(0, n_e)),
            under_weight=draw(st.sampled_from(WEIGHTS)),
            over_weight=draw(st.sampled_from(WEIGHTS[:3])),
        )
        for date, shift in lines
    ]
    problem = Problem(
        horizon=Horizon(start=start, days=n_d),
        shift_types=shifts,
        employees=staff,
        requests=requests,
        cover=cover,
    )
    assert validate(problem) == []
    return problem


# --- brute force -------------------------------------------------------------------------

Row = tuple[str | None, ...]  # one employee's shift id per day, None for off


def feasible_rows(problem: Problem, employee: Employee) -> list[tuple[Row, int]]:
    """Every row of `employee` the evaluator accepts, with its request penalty."""
    alone = msgspec.structs.replace(
        problem,
        employees=[employee],
        requests=[r for r in problem.requests if r.employee == employee.id],
        cover=[],
    )
    dates = [problem.horizon.date(d) for d in range(problem.horizon.days)]
    choices = [None, *(s.id for s in problem.shift_types)]
    rows = []
    for row in itertools.product(choices, repeat=len(dates)):
        assignments = [
            Assignment(employee=employee.id, date=date, shift=s)
            for date, s in zip(dates, row, strict=True)
            if s is not None
        ]
        evaluation = evaluate(alone, assignments)
        if evaluation.feasible:
            rows.append((row, evaluation.objective))
    return rows


def brute_force_optimum(problem: Problem) -> tuple[int, list[Assignment]] | None:
    """The optimal objective and a roster reaching it, or None if no roster is feasible."""
    per_employee = [feasible_rows(problem, e) for e in problem.employees]
    if any(not rows for rows in per_employee):
        return None
    n_days = problem.horizon.days
    shift_ids = [s.id for s in problem.shift_types]
    cell = {(d, s): i for i, (d, s) in enumerate(itertools.product(range(n_days), shift_ids))}
    # best[counts] = (request penalty, rows chosen so far): counts = staff per (day, shift)
    best: dict[tuple[int, ...], tuple[int, tuple[Row, ...]]] = {(0,) * len(cell): (0, ())}
    for rows in per_employee:
        merged: dict[tuple[int, ...], tuple[int, tuple[Row, ...]]] = {}
        for counts, (cost, chosen) in best.items():
            for row, row_cost in rows:
                new = list(counts)
                for d, s in enumerate(row):
                    if s is not None:
                        new[cell[d, s]] += 1
                key = tuple(new)
                total = cost + row_cost
                if key not in merged or total < merged[key][0]:
                    merged[key] = (total, (*chosen, row))
        best = merged
    day = problem.horizon.day

    def cover_cost(counts: tuple[int, ...]) -> int:
        total = 0
        for c in problem.cover:
            n = counts[cell[day(c.date), c.shift]]
            total += c.under_weight * max(0, c.requirement - n)
            total += c.over_weight * max(0, n - c.requirement)
        return total

    counts, (cost, chosen) = min(best.items(), key=lambda kv: kv[1][0] + cover_cost(kv[0]))
    assignments = [
        Assignment(employee=e.id, date=problem.horizon.date(d), shift=s)
        for e, row in zip(problem.employees, chosen, strict=True)
        for d, s in enumerate(row)
        if s is not None
    ]
    return cost + cover_cost(counts), assignments


def some_employee_has_no_feasible_row(problem: Problem) -> bool:
    return any(not feasible_rows(problem, e) for e in problem.employees)


# --- properties --------------------------------------------------------------------------

# Infeasibility of a larger problem is brute-forced when one employee's rows are this few.
MAX_ROWS_PER_EMPLOYEE = 4**6

# Found by this test: a minimum of minutes for someone who may work no shift at all.
CANNOT_REACH_MINIMUM = Problem(
    horizon=Horizon(start=MONDAY, days=5),
    shift_types=[ShiftType(id="D", duration_minutes=240)],
    employees=[Employee(id="e0"), Employee(id="e1", max_shifts={"D": 0}, min_total_minutes=1)],
)


@settings(PROPERTY, max_examples=40)
@given(problems())
@example(CANNOT_REACH_MINIMUM)
def test_every_solver_roster_passes_the_evaluator(problem):
    inst = compile_problem(problem)
    result = solve_cpsat(inst, time_limit=3, workers=2)
    event(result.status)
    assert result.status in ("optimal", "feasible", "infeasible")
    if result.status == "infeasible":
        assert result.roster is None
        rows = (len(problem.shift_types) + 1) ** problem.horizon.days
        if rows <= MAX_ROWS_PER_EMPLOYEE:
            event("infeasible: brute-forced")
            assert some_employee_has_no_feasible_row(problem)
        return
    assert result.roster is not None
    evaluation = evaluate(problem, inst.assignments(result.roster))
    assert evaluation.violations == []
    assert evaluation.objective == result.objective
    assert result.bound is None or result.bound <= result.objective


@settings(PROPERTY, max_examples=25)
@given(problems(n_employees=(1, 3), n_days=(3, 5), n_shifts=(1, 2), max_rows=3**12))
def test_tiny_problems_agree_with_brute_force(problem):
    inst = compile_problem(problem)
    result = solve_cpsat(inst, time_limit=3, workers=2)
    event(result.status)
    brute = brute_force_optimum(problem)
    if brute is None:
        assert result.status == "infeasible"
        return
    optimum, witness = brute
    # The witness's objective by the evaluator itself keeps the DP's cover arithmetic honest.
    witness_evaluation = evaluate(problem, witness)
    assert witness_evaluation.feasible
    assert witness_evaluation.objective == optimum
    floor = cover_lower_bound(inst)
    event("counting bound binds" if floor else "counting bound 0")
    assert floor <= optimum
    assert result.status in ("optimal", "feasible")
    assert result.roster is not None
    evaluation = evaluate(problem, inst.assignments(result.roster))
    assert evaluation.violations == []
    assert evaluation.objective == result.objective
    if result.status == "optimal":
        assert result.objective == optimum
    else:
        assert result.objective >= optimum


@settings(PROPERTY, max_examples=25)
@given(problems(n_days=(5, 10)), st.data())
def test_window_repairs_keep_every_rule_across_their_edges(problem, data):
    # The incumbent comes from the same hard rules under another objective (requests only),
    # so the full objective gives the window something to repair.
    inst = compile_problem(problem)
    start = solve_cpsat(
        compile_problem(msgspec.structs.replace(problem, cover=[])), time_limit=3, workers=2
    )
    event(f"incumbent {start.status}")
    if start.roster is None:
        return
    context = start.roster
    lo = data.draw(st.integers(0, inst.days - 1), label="lo")
    hi = data.draw(st.integers(lo + 1, inst.days), label="hi")
    free = data.draw(
        st.none() | st.sets(st.integers(0, inst.n_employees - 1), min_size=1), label="free"
    )
    rm = RosterModel(inst, window=(lo, hi), context=context, free_employees=free)
    rm.vars.add_hint(context)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = 3
    solver.parameters.num_workers = 2
    code = solver.solve(rm.model)
    # The incumbent itself satisfies the window model, so a roster must be found.
    assert code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    roster = rm.vars.extract(solver.boolean_value)
    for e in range(inst.n_employees):
        for d in range(inst.days):
            if not (lo <= d < hi and (free is None or e in free)):
                assert roster[e][d] == context[e][d]
    assert round(solver.objective_value) == roster_cost(inst, roster, rm.vars.free_days())
    evaluation = evaluate(problem, inst.assignments(roster))
    assert evaluation.violations == []
    assert evaluation.objective <= evaluate(problem, inst.assignments(context)).objective
