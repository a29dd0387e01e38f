"""Large-neighbourhood search around an incumbent roster, with CP-SAT as the repair step.

CP-SAT's own LNS picks neighbourhoods blind to the problem's structure. Rosters have two
natural ones, and searching them explicitly is what closes most of the gap on the harder
Curtois instances:

* a window of consecutive days, every employee freed: fixes local cover and request patterns
  while the runs that cross the window's edges stay legal because the model sees the context;
* a few employees freed over the whole horizon (or a long stretch of it): their rosters are
  rebuilt together against everybody else's, which is how cover gaps move between people
  whose sequence rules (runs, days off, weekends, total hours) block any simple swap.

Each repair is a small model (`RosterModel` with a window and/or employee subset), hinted with
the incumbent and required to beat it, solved by ONE CP-SAT worker with the full LP
relaxation. Measured on Curtois Instance5 (25 random 12-day windows): that solves or refutes
a window in 0.2 s on average, where the default portfolio of 2 workers needs 0.9 s and often
gives up. Sizes adapt: a neighbourhood solved or refuted in time grows, one that timed out
shrinks. Repairs run `threads` at a time (CP-SAT releases the GIL while it solves); two
improvements that touch different cells are merged when the merged roster stays feasible.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ortools.sat.python import cp_model

from domain.solver.cost import roster_cost
from domain.solver.feasibility import is_feasible
from domain.solver.instance import Instance, Roster
from domain.solver.model import RosterModel

# Horizons up to LONG_HORIZON_DAYS: half the repairs free everybody over EVERYONE_DAYS
# (adapting), half free 3 employees (adapting) over up to 56 days. Longer
# horizons: an all-employee window is too big to solve in a fraction of a second (Instance22:
# 50 x 10 shift types), so most repairs free a crew over a CREW_SPAN_DAYS stretch instead;
# measured on Instance22 over 20 s: 39.9k with (0.2, 28 days, 6) against 41.6k with the
# short-horizon mix.
LONG_HORIZON_DAYS = 84
EVERYONE_DAYS = 8.0
SHORT = (0.5, 56, 3.0)  # (share of all-employee windows, crew span, crew size)
LONG = (0.2, 28, 6.0)

# A repair either finds a better roster quickly or is not worth waiting for: proving that a
# neighbourhood holds nothing better can take far longer than finding an improvement.
MOVE_SECONDS = 0.5

DEFAULT_THREADS = 2  # one repair per core of the machines Rota is sized for


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
    merges: int = 0


@dataclass
class _Move:
    size: _Size
    lo: int
    hi: int
    free: list[int] | None  # None: every employee

    def cells(self, n_employees: int) -> set[tuple[int, int]]:
        people = self.free if self.free is not None else range(n_employees)
        return {(e, d) for e in people for d in range(self.lo, self.hi)}


class _Neighbourhoods:
    """Draws the next neighbourhood to repair and adapts the sizes to the outcomes."""

    def __init__(self, inst: Instance, rng: random.Random) -> None:
        n_e, n_d = inst.n_employees, inst.days
        self.n_e, self.n_d, self.rng = n_e, n_d, rng
        self.everyone_share, span, crew = SHORT if n_d <= LONG_HORIZON_DAYS else LONG
        self.everyone = _Size(min(EVERYONE_DAYS, n_d), 3.0, float(min(n_d, 28)))
        self.crew = _Size(min(crew, n_e), 2.0, float(n_e))
        self.span = min(n_d, span)

    def draw(self) -> _Move:
        rng = self.rng
        if rng.random() < self.everyone_share:
            width = min(round(self.everyone.value), self.n_d)
            lo = rng.randrange(0, self.n_d - width + 1)
            return _Move(self.everyone, lo, lo + width, None)
        k = min(round(self.crew.value), self.n_e)
        lo = rng.randrange(0, self.n_d - self.span + 1)
        return _Move(self.crew, lo, lo + self.span, rng.sample(range(self.n_e), k))

    @staticmethod
    def record(move: _Move, code: int) -> None:
        if code in (cp_model.OPTIMAL, cp_model.INFEASIBLE):
            move.size.grow()  # solved or refuted in time: look wider
        elif code == cp_model.UNKNOWN:
            move.size.shrink()


def _repair(inst: Instance, roster: Roster, move: _Move, seconds: float, seed: int):
    """Solve one neighbourhood: (status code, improved roster or None)."""
    rm = RosterModel(inst, window=(move.lo, move.hi), context=roster, free_employees=move.free)
    if isinstance(rm.objective, int):
        return cp_model.INFEASIBLE, None  # nothing free here (e.g. all days off)
    rm.vars.add_hint(roster)
    # The incumbent is a solution of every neighbourhood: only better ones are of use.
    rm.model.add(rm.objective <= roster_cost(inst, roster, range(move.lo, move.hi)) - 1)
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = seconds
    solver.parameters.num_workers = 1
    solver.parameters.linearization_level = 2
    solver.parameters.random_seed = seed
    code = solver.solve(rm.model)
    if code in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return code, rm.vars.extract(solver.boolean_value)
    return code, None


def improve(
    inst: Instance,
    roster: Roster,
    *,
    deadline: float,
    seed: int = 0,
    threads: int = DEFAULT_THREADS,
    on_improvement: Callable[[Roster, int], None] | None = None,
    lower_bound: int | None = None,
    stats: LnsStats | None = None,
    stall_rounds: int | None = None,
) -> Roster:
    """Improve a feasible `roster` until `deadline` (time.monotonic()), the lower bound, or
    `stall_rounds` rounds in a row without an improvement."""
    rng = random.Random(seed)
    stats = stats if stats is not None else LnsStats()
    hoods = _Neighbourhoods(inst, rng)
    cost = roster_cost(inst, roster)
    idle = 0
    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        while (left := deadline - time.monotonic()) > 0.2:
            if lower_bound is not None and cost <= lower_bound:
                break
            if stall_rounds is not None and idle >= stall_rounds:
                break
            moves = [hoods.draw() for _ in range(max(threads, 1))]
            seconds = min(MOVE_SECONDS, left)
            futures = [
                pool.submit(_repair, inst, roster, m, seconds, rng.randrange(1 << 30))
                for m in moves
            ]
            outcomes = [f.result() for f in futures]
            stats.moves += len(moves)
            for move, (code, _) in zip(moves, outcomes, strict=True):
                hoods.record(move, code)
            better = [(m, r) for m, (_, r) in zip(moves, outcomes, strict=True) if r is not None]
            if not better:
                idle += 1
                continue
            idle = 0
            roster, cost = _best_of(inst, roster, better, stats)
            stats.improvements += 1
            if on_improvement is not None:
                on_improvement(roster, cost)
    return roster


def _best_of(inst: Instance, base: Roster, better: list[tuple[_Move, Roster]], stats: LnsStats):
    """The best improved roster, or all of them merged when they touch different cells."""
    scored = [(roster_cost(inst, r), r) for _, r in better]
    cost, roster = min(scored, key=lambda cr: cr[0])
    if len(better) > 1:
        merged = [list(row) for row in base]
        seen: set[tuple[int, int]] = set()
        disjoint = True
        for move, r in better:
            cells = move.cells(inst.n_employees)
            disjoint = disjoint and not (cells & seen)
            seen |= cells
            for e, d in cells:
                merged[e][d] = r[e][d]
        if disjoint and is_feasible(inst, merged):
            merged_cost = roster_cost(inst, merged)
            if merged_cost < cost:
                stats.merges += 1
                return merged, merged_cost
    return roster, cost
