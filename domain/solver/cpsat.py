"""Solve an `Instance` with OR-Tools CP-SAT, streaming every improving roster.

This runs inside the isolated child (`child.py`); it knows nothing of limits on memory or
wall time beyond CP-SAT's own time limit, which the parent backs up with a hard kill.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ortools.sat.python import cp_model

from domain.solver.instance import Instance, Roster
from domain.solver.model import RosterModel

# CP-SAT proves bounds far better with 8 search workers than with 2, even on 2 cores: its
# portfolio runs LP-based, core-based and LNS workers side by side (measured, DESIGN.md 6).
DEFAULT_WORKERS = 8

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

    def __init__(self, rm: RosterModel, started: float, sink: Callable[[CpsatProgress], None]):
        super().__init__()
        self._rm, self._started, self._sink = rm, started, sink
        self.count = 0

    def on_solution_callback(self) -> None:
        self.count += 1
        roster = self._rm.vars.extract(self.boolean_value)
        self._sink(
            CpsatProgress(
                objective=round(self.objective_value),
                bound=round(self.best_objective_bound),
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
) -> CpsatResult:
    started = time.monotonic()
    rm = RosterModel(instance)
    if hint is not None:
        rm.vars.add_hint(hint)
    built = time.monotonic() - started
    solver = cp_model.CpSolver()
    solver.parameters.copy_from(parameters(time_limit - built, workers, seed))
    streamer = _Streamer(rm, started, on_solution or (lambda _p: None))
    code = solver.solve(rm.model, streamer)
    status = _STATUS.get(code, "unknown")
    has_roster = code in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return CpsatResult(
        status=status,
        roster=rm.vars.extract(solver.boolean_value) if has_roster else None,
        objective=round(solver.objective_value) if has_roster else None,
        bound=round(solver.best_objective_bound)
        if has_roster or code == cp_model.UNKNOWN
        else None,
        wall_time=time.monotonic() - started,
        stats={
            "build_seconds": round(built, 3),
            "solutions": streamer.count,
            "branches": solver.num_branches,
            "conflicts": solver.num_conflicts,
            "workers": workers,
            "penalties": rm.penalty_values(solver.value) if has_roster else None,
        },
    )
