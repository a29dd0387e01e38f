"""Large-neighbourhood search around an incumbent roster, with CP-SAT as the repair step.

CP-SAT's own LNS picks neighbourhoods blind to the problem's structure. Rosters have two
natural ones, and searching them explicitly is what closes most of the gap on the harder
Curtois instances within seconds:

* a few employees, freed over the whole horizon (or a window of it on long horizons): their
  rosters are rebuilt together against everybody else's, which is how cover gaps move between
  people whose sequence rules (runs, days off, weekends) block a simple swap;
* a window of consecutive days, every employee freed: fixes local cover and request patterns
  while the runs that cross the window's edges stay legal because the model sees the context.

Each repair is a small model (`RosterModel` with a window and/or employee subset), hinted with
the incumbent, solved for a second or two; an improvement is accepted at once. Sizes adapt:
a neighbourhood solved to optimality grows, one that timed out shrinks.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ortools.sat.python import cp_model

from domain.solver.cost import roster_cost
from domain.solver.instance import Instance, Roster
from domain.solver.model import RosterModel

# Long horizons are repaired a window at a time: a 364-day, 50-employee model is too big to
# rebuild for every move, and rules only link days that are close (runs, next-day rotation),
# apart from the horizon-wide totals, which the window model sees as constants plus its days.
FULL_HORIZON_DAYS = 56

# A repair either finds a better roster quickly or is not worth waiting for: proving that a
# neighbourhood holds nothing better can take far longer than finding an improvement.
MOVE_SECONDS = 1.0


@dataclass
class _Size:
    value: float
    low: float
    high: float

    def grow(self) -> None:
        self.value = min(self.high, self.value * 1.15)

    def shrink(self) -> None:
        self.value = max(self.low, self.value * 0.85)


@dataclass
class LnsStats:
    moves: int = 0
    improvements: int = 0


def improve(
    inst: Instance,
    roster: Roster,
    *,
    deadline: float,
    seed: int = 0,
    workers: int = 1,
    on_improvement: Callable[[Roster, int], None] | None = None,
    lower_bound: int | None = None,
    stats: LnsStats | None = None,
) -> Roster:
    """Improve a feasible `roster` until `deadline` (time.monotonic()) or the lower bound."""
    rng = random.Random(seed)
    stats = stats if stats is not None else LnsStats()
    cost = roster_cost(inst, roster)
    n_e, n_d = inst.n_employees, inst.days
    # Widths adapt to the outcome: a window solved or refuted in time grows, one that ran
    # out of time shrinks. Measured on Instance5 (25 random windows each): one worker with
    # the full LP relaxation (linearization_level 2) solves or refutes a 12-day window in
    # 0.2 s on average where the default portfolio of 2 workers needs 0.9 s and often gives
    # up; all-employee windows also improve far more often than employee subsets.
    everyone = _Size(min(10.0, n_d), 3.0, float(min(n_d, 28)))
    crew = _Size(min(3.0, n_e), 2.0, float(n_e))
    span = min(n_d, FULL_HORIZON_DAYS)
    while (left := deadline - time.monotonic()) > 0.2:
        if lower_bound is not None and cost <= lower_bound:
            break
        if rng.random() < 0.5:  # everybody over a few days
            free, size = None, everyone
            width = min(round(size.value), n_d)
        else:  # a few employees over the horizon (or a long stretch of it)
            size = crew
            free, width = rng.sample(range(n_e), min(round(size.value), n_e)), span
        lo = rng.randrange(0, n_d - width + 1)
        hi = lo + width
        rm = RosterModel(inst, window=(lo, hi), context=roster, free_employees=free)
        rm.vars.add_hint(roster)
        before = roster_cost(inst, roster, range(lo, hi))
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = min(MOVE_SECONDS, left)
        solver.parameters.num_workers = workers
        solver.parameters.linearization_level = 2
        solver.parameters.random_seed = rng.randrange(1 << 30)
        # The incumbent is a solution of every neighbourhood: only better ones are of use.
        if isinstance(rm.objective, int):
            continue  # nothing free in this neighbourhood (e.g. all days off)
        rm.model.add(rm.objective <= before - 1)
        code = solver.solve(rm.model)
        stats.moves += 1
        if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            roster = rm.vars.extract(solver.boolean_value)
            cost = roster_cost(inst, roster)
            stats.improvements += 1
            if on_improvement is not None:
                on_improvement(roster, cost)
        if code in (cp_model.OPTIMAL, cp_model.INFEASIBLE):
            size.grow()  # proved: nothing better here, look wider
        elif code == cp_model.UNKNOWN:
            size.shrink()
    return roster
