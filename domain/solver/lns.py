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
shrinks, whether or not it improved on the way. `threads` repairs are always in flight
(CP-SAT releases the GIL while it solves); a repair of an older incumbent is carried over to
the current one when that stays feasible and cheaper. On long horizons half the
neighbourhoods are built around a hole of the incumbent (an under-staffed day and shift) and
the people who could fill it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from ortools.sat.python import cp_model

from domain.solver.cost import roster_cost
from domain.solver.heuristic_state import RosterState
from domain.solver.instance import OFF, Instance, Roster
from domain.solver.model import RosterModel

# The mix of neighbourhoods by horizon, each (share of all-employee windows, crew span in
# days, crew size, share placed around a hole, share of crew moves around a request).
#
# Up to LONG_HORIZON_DAYS: half the repairs free everybody over EVERYONE_DAYS (adapting),
# half free 3 employees (adapting) over the whole horizon. A half-worked weekend wastes a
# place the weekend's holes need, and trading it for a whole one moves a worked weekend
# between people, often weeks apart: on Instance18 (84 days; 49 of a 30 s roster's 53 holes
# fell on weekends, 8 more than the counting bound forces) crews over all 84 days instead
# of 56 gave 5094 / 5214 / 5205 / 5109 against 5417 / 5606 / 5406 / 5316 (30 s, seeds 0-3);
# on the shorter horizons 56 days already spanned them whole. Longer horizons: an all-employee
# window is too big to solve in a fraction of a second (Instance22: 50 x 10 shift types), so
# most repairs free a crew over 28 days instead; measured on Instance22 over 20 s: 39.9k with
# (0.2, 28 days, 6) against 41.6k with the short-horizon mix. Once repairs there took 0.2 s
# (`move_seconds`), crews over 14 days (10 people to start with, adapting) did better on
# Instance20: at 30 s, seeds 0-4, 5611 / 5550 / 5536 / 5382 / 5612 against 5649 / 5700 /
# 5538 / 5652 / 5602 over 28 days (mean 5538 against 5628), Instance22 the same (38085
# against 38048); over 7 days, seeds 0-2: 5621 and 37898 on average.
#
# Around a hole (an under-staffed day and shift of the incumbent; the crew mostly people who
# could fill it). Measured from the same rosters over 12-15 s, twice each: Instance20 7472 ->
# 6825 / 6940 with 0.5 against 7050 / 7157 with none, but Instance8 2109 -> 1775 / 1666 with
# 0.5 against 1569 / 1585 with none (its crews span the whole horizon and random ones move
# cover more freely). At 30 s (make bench's pipeline, seeds 0/1) on the 6-12 week horizons:
# Instance14 1344 / 1323 with 0.5 against 1422 / 1450 with none, Instance16 3243 / 3334
# against 3243 / 3343, Instance18 5097 / 5708 against 5025 / 5606 (within its noise).
#
# Around a request the incumbent does not grant, on 4-week horizons: the person who asked,
# people who could trade that day with them, the rest at random. At 30 s, seeds 0/1/2,
# against random crews: Instance6 1963 / 1956 against 2052 / 2054 (best known 1950; random
# crews had given 2047-2054 in every run since the LNS exists; over 12 runs in all, 6 ended
# at 1956-1963, 5 at 2043-2051 and one at 2140: one hole fewer, found half the time),
# Instance7 1072 / 1072 / 1072
# against 1074 / 1085 / 1085, Instance8 1453 / 1461 against 1451 / 1341, Instance10 4839 /
# 4654 / 4649 against 4650 / 4740 / 4645, Instance11 3448 against 3449. Longer horizons lost
# (Instance14 1523 / 1484, Instance16 3545 / 3345, Instance18 5305 / 5617 against the
# figures above without), where holes, not requests, make the gap.
FOUR_WEEKS_DAYS = 28
LONG_HORIZON_DAYS = 84
EVERYONE_DAYS = 8.0
FOUR_WEEKS = (0.5, 56, 3.0, 0.0, 0.5)
SHORT = (0.5, LONG_HORIZON_DAYS, 3.0, 0.5, 0.0)
LONG = (0.2, 14, 10.0, 0.5, 0.0)


def mix(days: int) -> tuple[float, int, float, float, float]:
    """The neighbourhood mix of a horizon of `days` days (see above)."""
    if days <= FOUR_WEEKS_DAYS:
        return FOUR_WEEKS
    return SHORT if days <= LONG_HORIZON_DAYS else LONG


# A repair either finds a better roster quickly or is not worth waiting for: proving that a
# neighbourhood holds nothing better can take far longer than finding an improvement.
MOVE_SECONDS = 0.5
# Beyond LONG_HORIZON_DAYS the crews are small and the long horizon has far more of them to
# repair than a 30 s solve gets through, so shorter repairs pay (with the sizes shrinking
# after every timed-out one, see _Neighbourhoods.record). At 30 s, seeds 0-4 (2026-11-26):
# Instance22 mean 38048 with 0.2 s against 38184 with 0.3 s and 38475 with 0.5 s,
# Instance20 5628 against 5634 and 5658. Up to 84 days 0.2 s lost (seeds 0 / 1: Instance14
# 1456 / 1452 against 1331 / 1357, Instance18 5303 / 5620 against 5299 / 5193).
LONG_MOVE_SECONDS = 0.2


def move_seconds(days: int) -> float:
    """The time one repair may take on a horizon of `days` days."""
    return MOVE_SECONDS if days <= LONG_HORIZON_DAYS else LONG_MOVE_SECONDS


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


class _Neighbourhoods:
    """Draws the next neighbourhood to repair and adapts the sizes to the outcomes."""

    def __init__(self, inst: Instance, rng: random.Random) -> None:
        n_e, n_d = inst.n_employees, inst.days
        self.inst, self.n_e, self.n_d, self.rng = inst, n_e, n_d, rng
        self.everyone_share, span, crew, self.target_share, self.request_share = mix(n_d)
        self.everyone = _Size(min(EVERYONE_DAYS, n_d), 3.0, float(min(n_d, 28)))
        self.crew = _Size(min(crew, n_e), 2.0, float(n_e))
        self.span = min(n_d, span)
        self.weekend_of: list[tuple[int, ...] | None] = [None] * n_d
        for days in inst.weekends:
            for d in days:
                self.weekend_of[d] = days

    def draw(self, roster: Roster) -> _Move:
        rng = self.rng
        hole = _shortfall(self.inst, roster, rng) if rng.random() < self.target_share else None
        if rng.random() < self.everyone_share:
            width = min(round(self.everyone.value), self.n_d)
            lo = self._start(width, hole)
            return _Move(self.everyone, lo, lo + width, None)
        k = min(round(self.crew.value), self.n_e)
        if hole is None and rng.random() < self.request_share:
            wish = _unmet_request(self.inst, roster, rng)
            if wish is not None:
                return self._around_request(roster, wish, k)
        lo = self._start(self.span, hole)
        if hole is None:
            return _Move(self.crew, lo, lo + self.span, rng.sample(range(self.n_e), k))
        # Most of the crew from the people who could fill the hole, the rest at random so
        # that cover can move between them.
        d, s = hole
        helpers, able = self._helpers(roster, d, s)
        chosen = set(rng.sample(helpers, min(len(helpers), k - 1)))
        spare = [e for e in able if e not in chosen]
        chosen.update(rng.sample(spare, min(len(spare), max(0, (k + 1) // 2 - len(chosen)))))
        others = [e for e in range(self.n_e) if e not in chosen]
        chosen.update(rng.sample(others, min(len(others), k - len(chosen))))
        return _Move(self.crew, lo, lo + self.span, sorted(chosen))

    def _around_request(self, roster: Roster, wish: tuple[int, int, int], k: int) -> _Move:
        """A crew move that could grant employee e's request about (d, s): with e, people
        who could trade that day with them (working s when e asks to work it, off and able
        to take e's shift when e asks not to), the rest at random."""
        e, d, s = wish
        rng, inst = self.rng, self.inst
        if roster[e][d] != s:  # e wants to work s: someone working s that day could swap
            partners = [o for o in range(self.n_e) if o != e and roster[o][d] == s]
        else:  # e wants s off: someone off that day who may work it could take it over
            partners = [
                o for o in range(self.n_e) if roster[o][d] == OFF and inst.may_work(o, d, s)
            ]
        chosen = {e, *rng.sample(partners, min(len(partners), max(1, (k - 1) // 2)))}
        others = [o for o in range(self.n_e) if o not in chosen]
        chosen.update(rng.sample(others, min(len(others), k - len(chosen))))
        lo = self._start(self.span, (d, s))
        return _Move(self.crew, lo, lo + self.span, sorted(chosen))

    def _helpers(self, roster: Roster, d: int, s: int) -> tuple[list[int], list[int]]:
        """Who could work shift s on day d: (the likeliest, everybody qualified).

        The likeliest are off that day and, on a weekend, either already work its other day
        or have a weekend to spare. Weekends are the scarce resource of the long Curtois
        instances (almost every hole of Instance20 and 22 falls on one, and the maximum
        weekends bind), so a weekend worked on one day only wastes half of one.
        """
        inst = self.inst
        able = [e for e in range(self.n_e) if roster[e][d] != s and inst.may_work(e, d, s)]
        weekend = self.weekend_of[d]
        helpers = []
        for e in able:
            if roster[e][d] != OFF:
                continue
            if weekend is None:
                helpers.append(e)
                continue
            limit = inst.max_weekends[e]
            spare = limit is None or (
                sum(any(roster[e][x] != OFF for x in w) for w in inst.weekends) < limit
            )
            if spare or any(roster[e][x] != OFF for x in weekend):
                helpers.append(e)
        return helpers, able

    def _start(self, width: int, hole: tuple[int, int] | None) -> int:
        """First day of a window of `width` days: random, or around the hole's day."""
        if hole is None:
            return self.rng.randrange(0, self.n_d - width + 1)
        d = hole[0]
        return self.rng.randrange(max(0, d - width + 1), min(d, self.n_d - width) + 1)

    @staticmethod
    def record(move: _Move, code: int) -> None:
        """Grow a neighbourhood that was solved or refuted in time, shrink one that ran out
        of time, also when it found a better roster on the way (FEASIBLE).

        Keeping the size after a FEASIBLE repair, as the search once did, left the long
        horizons' sizes where nearly every repair took all of its time (Instance20:
        36 of 78 repairs ended FEASIBLE). Measured at 30 s (2026-11-26, keep / shrink):
        Instance20 seeds 0-4 5848 / 5796 / 5671 / 5700 / 5736 against 5582 / 5777 / 5781 /
        5478 / 5674 (mean 5750 -> 5658, about 17 % more repairs), Instance22 mean 38740 ->
        38475; seeds 0-3, Instance8 1462 / 1449 / 1553 / 1448 against 1365 / 1357 / 1339 /
        1634, Instance14 mean 1449 -> 1397; within their noise Instance10 (4697 -> 4722, one
        run a hole worse), Instance6 (2003 -> 2009), Instance16 (3345 -> 3344) and
        Instance18 (seeds 0-1, 5304 -> 5246).
        """
        if code in (cp_model.OPTIMAL, cp_model.INFEASIBLE):
            move.size.grow()
        else:
            move.size.shrink()


def _shortfall(inst: Instance, roster: Roster, rng: random.Random) -> tuple[int, int] | None:
    """A random under-staffed (day, shift) of `roster`, or None if cover is met everywhere.

    Under-cover is the heaviest penalty of the benchmark (100 per person against at most 3
    for a request), so a neighbourhood built around a hole is far likelier to pay off than
    a blind one.
    """
    n_s = inst.n_shifts
    holes = []
    for d in range(inst.days):
        staffed = [0] * (n_s + 1)
        for row in roster:
            staffed[row[d]] += 1
        for s, line in enumerate(inst.cover[d]):
            if line is not None and staffed[s] < line[0]:
                holes.append((d, s))
    return rng.choice(holes) if holes else None


def _unmet_request(
    inst: Instance, roster: Roster, rng: random.Random
) -> tuple[int, int, int] | None:
    """A random request of `roster` that is not granted, as (employee, day, shift), drawn
    in proportion to its weight; None if every request is granted."""
    wishes: list[tuple[int, int, int]] = []
    weights: list[int] = []
    for e, row in enumerate(roster):
        on, off = inst.on_weight[e], inst.off_weight[e]
        for d, worked in enumerate(row):
            for s, w in enumerate(on[d]):
                if w and worked != s:
                    wishes.append((e, d, s))
                    weights.append(w)
            if worked != OFF and off[d][worked]:
                wishes.append((e, d, worked))
                weights.append(off[d][worked])
    return rng.choices(wishes, weights)[0] if wishes else None


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
    `stall_rounds` * `threads` repairs in a row without an improvement.

    `threads` repairs are always in flight: as soon as one ends, the next starts from the
    incumbent of that moment. A repair that started from an older incumbent is applied to
    the current one (its employees' rows over its days) when that stays feasible and cheaper.
    """
    rng = random.Random(seed)
    stats = stats if stats is not None else LnsStats()
    hoods = _Neighbourhoods(inst, rng)
    repair_seconds = move_seconds(inst.days)
    checker = RosterState(inst)
    cost = roster_cost(inst, roster)
    idle = 0
    patience = None if stall_rounds is None else stall_rounds * max(threads, 1)
    running: dict[Future, tuple[_Move, Roster]] = {}

    def stop() -> bool:
        if deadline - time.monotonic() <= 0.2:
            return True
        if lower_bound is not None and cost <= lower_bound:
            return True
        return patience is not None and idle >= patience

    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        while running or not stop():
            while len(running) < max(threads, 1) and not stop():
                move = hoods.draw(roster)
                seconds = min(repair_seconds, deadline - time.monotonic())
                future = pool.submit(_repair, inst, roster, move, seconds, rng.randrange(1 << 30))
                running[future] = (move, roster)
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                move, base = running.pop(future)
                code, better = future.result()
                stats.moves += 1
                hoods.record(move, code)
                candidate = (
                    None if better is None else _rebase(inst, checker, roster, base, better, move)
                )
                new_cost = (
                    None if candidate is None else _cost_after(inst, roster, cost, candidate, move)
                )
                if new_cost is None or new_cost >= cost:
                    idle += 1
                    continue
                idle = 0
                if base is not roster:
                    stats.merges += 1
                roster, cost = candidate, new_cost
                stats.improvements += 1
                if on_improvement is not None:
                    on_improvement(roster, cost)
    return roster


def _rebase(
    inst: Instance,
    checker: RosterState,
    current: Roster,
    base: Roster,
    better: Roster,
    move: _Move,
) -> Roster | None:
    """`better` (a repair of `base`) carried over to `current`, or None if that breaks a rule."""
    if base is current:
        return better
    merged = list(current)
    people = move.free if move.free is not None else range(inst.n_employees)
    for e in people:
        row = list(current[e])
        row[move.lo : move.hi] = better[e][move.lo : move.hi]
        if row != current[e]:
            if checker.row_violations(e, row):
                return None
            merged[e] = row
    return merged


def _cost_after(inst: Instance, current: Roster, cost: int, candidate: Roster, move: _Move) -> int:
    """The objective of `candidate`, which differs from `current` only on the move's days."""
    days = range(move.lo, move.hi)
    return cost - roster_cost(inst, current, days) + roster_cost(inst, candidate, days)
