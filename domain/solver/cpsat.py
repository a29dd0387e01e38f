"""Solve an `Instance` with OR-Tools CP-SAT, streaming every improving roster.

This runs inside the isolated child (`child.py`); it knows nothing of limits on memory or
wall time beyond CP-SAT's own time limit, which the parent backs up with a hard kill.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from domain.solver.bounds import cover_lower_bound
from domain.solver.cost import roster_cost
from domain.solver.feasibility import is_feasible
from domain.solver.instance import Instance, Roster
from domain.solver.lns import LnsStats, improve
from domain.solver.model import RosterModel

# CP-SAT proves bounds far better with 8 search workers than with 2, even on 2 cores: its
# portfolio runs LP-based, core-based and LNS workers side by side (measured, DESIGN.md 6).
DEFAULT_WORKERS = 8

# Share of the time limit given to the full model before LNS takes over. The full model
# proves the bound and solves the small instances outright; past that, it stalls well above
# the best-known values, where the structured neighbourhoods of lns.py keep improving.
FULL_MODEL_SHARE = 0.15
# Above this many (employee, day, shift) cells, a feasible hint goes straight to LNS, and
# LNS never hands back to the full model. Instance20 (54,600 cells) came out at 37.9 % above
# the best-known value this way against 45.1 % with the full model first; Instance14 and 18
# (about 5,500 cells) still get the full model and its lower bound.
FULL_MODEL_MAX_CELLS = 20_000
# Up to this many cells the full model keeps the whole time limit: there CP-SAT's own
# portfolio (its LNS and LP workers on the complete model) beats the single-worker window
# repairs. Measured at 30 s: Instance5 (896 cells) 1149 and 1151 with the full model
# throughout against 1240-1246 with 15 % and then LNS; Instance4 (560) 1721 against
# 1718-1723. Larger ones lose: Instance7 (1,680) 1172 against 1072, Instance8 (3,360)
# 1875 against 1468.
FULL_MODEL_ONLY_MAX_CELLS = 1_000
# LNS rounds in a row without an improvement before the full model gets another turn.
STALL_ROUNDS = 12

_STATUS = {
    cp_model.OPTIMAL: "optimal",
    cp_model.FEASIBLE: "feasible",
    cp_model.INFEASIBLE: "infeasible",
    cp_model.MODEL_INVALID: "model_invalid",
    cp_model.UNKNOWN: "unknown",
}


@dataclass(frozen=True)
class CpsatProgress:
    objective: int
    bound: int
    elapsed: float
    roster: Roster


@dataclass(frozen=True)
class CpsatResult:
    status: str  # "optimal" | "feasible" | "infeasible" | "unknown" | "model_invalid"
    roster: Roster | None
    objective: int | None
    bound: int | None
    wall_time: float
    stats: dict[str, object] = field(default_factory=dict)


def parameters(time_limit: float, workers: int, seed: int) -> cp_model.SatParameters:
    p = cp_model.SatParameters()
    p.max_time_in_seconds = max(time_limit, 0.05)
    p.num_workers = workers
    p.random_seed = seed
    p.log_search_progress = False
    return p


class _Streamer(cp_model.CpSolverSolutionCallback):
    """Extracts and forwards each improving roster as CP-SAT finds it."""

    def __init__(
        self,
        rm: RosterModel,
        started: float,
        sink: Callable[[CpsatProgress], None],
        floor: int = 0,
    ):
        super().__init__()
        self._rm, self._started, self._sink, self._floor = rm, started, sink, floor
        self.count = 0

    def on_solution_callback(self) -> None:
        self.count += 1
        roster = self._rm.vars.extract(self.boolean_value)
        self._sink(
            CpsatProgress(
                objective=round(self.objective_value),
                bound=max(self._floor, math.ceil(self.best_objective_bound - 1e-6)),
                elapsed=time.monotonic() - self._started,
                roster=roster,
            )
        )


def solve_cpsat(
    instance: Instance,
    *,
    time_limit: float,
    workers: int = DEFAULT_WORKERS,
    seed: int = 0,
    hint: Roster | None = None,
    on_solution: Callable[[CpsatProgress], None] | None = None,
    full_share: float = FULL_MODEL_SHARE,
) -> CpsatResult:
    """The full model first (solutions and a lower bound), then LNS on the incumbent; on
    small models (FULL_MODEL_ONLY_MAX_CELLS) the full model only.

    A large instance with a hard-feasible hint skips the full model: building and presolving
    it would eat most of the time limit (Curtois Instance22: 135k variables, seconds of
    Python before CP-SAT even starts), while windows around the hint improve it at once.
    """
    started = time.monotonic()
    deadline = started + time_limit
    sink = on_solution or (lambda _p: None)
    hint_ok = hint is not None and is_feasible(instance, hint)
    cells = _cells(instance)
    small = cells <= FULL_MODEL_MAX_CELLS
    full_share = full_model_share(cells, full_share)
    stats: dict[str, object] = {"workers": workers}
    # Counting alone often bounds the objective far better than the full model's short
    # turn proves (bounds.py); CP-SAT's bound is raised to it wherever one is reported.
    floor = cover_lower_bound(instance)
    stats["counting_bound"] = floor
    if hint_ok and not small:
        status, roster, bound = "feasible", hint, floor or None
        stats["full_model"] = "skipped: large instance, feasible hint"
    else:
        status, roster, bound = _solve_full(
            instance, time_limit * full_share, workers, seed, hint, started, sink, stats, floor
        )
        if roster is None and hint_ok and status == "unknown":
            status, roster = "feasible", hint
        elif (
            roster is None
            and status == "unknown"
            # Rebuilding the model must leave it time to search (Instance22: 1.8 s to build).
            and deadline - time.monotonic() > 2 * float(stats.get("build_seconds", 0.0)) + 1.0
        ):
            # No roster at all (the hint breaks a rule, or there is none): nothing for the
            # windows to improve, so the full model keeps the rest of the time to find one
            # rather than handing the caller the heuristic's infeasible roster early.
            status, roster, again = _solve_full(
                instance,
                deadline - time.monotonic(),
                workers,
                seed + 1,
                hint,
                started,
                sink,
                stats,
                floor,
            )
            bound = again if bound is None or (again is not None and again > bound) else bound
    lns_stats = LnsStats()
    revisits = 0
    while status == "feasible" and roster is not None and deadline - time.monotonic() > 0.5:

        def publish(better: Roster, cost: int, bound: int | None = bound) -> None:
            sink(CpsatProgress(cost, bound, time.monotonic() - started, better))

        roster = improve(
            instance,
            roster,
            deadline=deadline,
            seed=seed + revisits,
            on_improvement=publish,
            lower_bound=bound,
            stats=lns_stats,
            stall_rounds=STALL_ROUNDS if small else None,
        )
        left = deadline - time.monotonic()
        if (
            not small
            or left < 1.0
            or (bound is not None and roster_cost(instance, roster) <= bound)
        ):
            break
        # The windows are stuck in a local optimum: hand the incumbent to the full portfolio,
        # whose own LNS and LP workers search differently (the full model alone reached
        # Instance5's 1148 in one run of three, where the windows stall at 1242).
        revisits += 1
        again, better, new_bound = _solve_full(
            instance,
            max(left * 0.5, min(left, 5.0)),
            workers,
            seed + revisits,
            roster,
            started,
            sink,
            stats,
            floor,
        )
        if new_bound is not None:
            bound = new_bound if bound is None else max(bound, new_bound)
        if better is not None and roster_cost(instance, better) < roster_cost(instance, roster):
            roster = better
        if again == "optimal":
            status = "optimal"
    stats["full_model_revisits"] = revisits
    objective = roster_cost(instance, roster) if roster is not None else None
    if objective is not None and bound is not None and objective <= bound:
        status = "optimal"
    stats.update(lns_moves=lns_stats.moves, lns_improvements=lns_stats.improvements)
    return CpsatResult(
        status=status,
        roster=roster,
        objective=objective,
        bound=bound,
        wall_time=time.monotonic() - started,
        stats=stats,
    )


def full_model_share(cells: int, share: float = FULL_MODEL_SHARE) -> float:
    """The share of the time limit the full model gets first (all of it on small models)."""
    return 1.0 if cells <= FULL_MODEL_ONLY_MAX_CELLS else share


def _cells(inst: Instance) -> int:
    return inst.n_employees * inst.days * inst.n_shifts


def _solve_full(
    instance: Instance,
    seconds: float,
    workers: int,
    seed: int,
    hint: Roster | None,
    started: float,
    sink: Callable[[CpsatProgress], None],
    stats: dict[str, object],
    floor: int = 0,
) -> tuple[str, Roster | None, int | None]:
    """Solve the whole model for `seconds`: (status, best roster or None, lower bound, at
    least `floor` unless the model is infeasible)."""
    begun = time.monotonic()
    rm = RosterModel(instance)
    if hint is not None:
        rm.vars.add_hint(hint)
    built = time.monotonic() - begun
    solver = cp_model.CpSolver()
    solver.parameters.copy_from(parameters(seconds - built, workers, seed))
    streamer = _Streamer(rm, started, sink, floor)
    code = solver.solve(rm.model, streamer)
    stats.update(
        full_model_seconds=round(time.monotonic() - begun, 3),
        build_seconds=round(built, 3),
        solutions=streamer.count,
        branches=solver.num_branches,
        conflicts=solver.num_conflicts,
    )
    status = _STATUS.get(code, "unknown")
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        # The objective is integral, so the ceiling of a fractional bound is still a bound.
        bound = math.ceil(solver.best_objective_bound - 1e-6)
        return status, rm.vars.extract(solver.boolean_value), max(bound, floor)
    if code == cp_model.UNKNOWN and math.isfinite(solver.best_objective_bound):
        return status, None, max(floor, math.ceil(solver.best_objective_bound - 1e-6))
    if code == cp_model.UNKNOWN:
        return status, None, floor or None
    return status, None, None
