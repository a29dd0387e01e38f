"""The greedy fallback of the CP-SAT solver and the source of its hint.

`solve_heuristic` builds a complete roster fast and improves it while time remains:

* Construction: employees one at a time (least flexible first), each given the row that
  suits the staffing left by the ones before (`heuristic_build.best_row`): a work pattern
  made of runs that obey the run rules by construction, then shift types for its days.
* Descent, every move priced incrementally (delta cost) and kept only if it breaks no hard
  rule that held: change one cell (a worked day's shift type, or add/drop a day where the
  run checks allow), aimed at under- and over-staffed (day, shift) pairs and requests; swap
  two employees' assignments on a day (a worked day for a day off included); re-plan one
  employee's whole row against the others (which moves whole blocks of work).
* Ruin and recreate: clear 1-3 related rows (on long horizons only a window of about four
  weeks of them) and re-plan them one by one, under record-to-record travel; the best
  roster met is returned.

Deterministic for a given seed as long as the search stops before the clock does (small
instances stop on `LNS_PATIENCE`); on large ones the time limit decides how far it gets.
Pure: no I/O; the standard library, and numpy for the row builder's run table where it can
be loaded (`heuristic_types.run_values`).
"""

from __future__ import annotations

import random
import time

from domain.solver.bounds import weekend_places_short
from domain.solver.heuristic_build import HALF_WEEKEND_MIN_DAYS, best_row
from domain.solver.heuristic_state import RosterState
from domain.solver.instance import OFF, Instance, Roster

MAX_ROUNDS = 50  # descent rounds (cell, swap and row passes) while they improve
FULL_BUDGET = 16  # pattern DP runs per row when time is plentiful
SHORT_BUDGET = 8  # ... and when the clock runs short
CONSTRUCTION_SHARE = 0.8  # of the time limit, before the construction economises
LNS_SIZES = (1, 2, 2, 3)  # how many rows one ruin-and-recreate step rebuilds
LNS_STEPS = 20_000  # at most this many steps (the clock usually ends them first) ...
LNS_PATIENCE = 2_000  # ... and this many without a new best
RRT_SLACK, RRT_MIN = 0.01, 20  # record-to-record travel: steps may cost this over the best
LONG_HORIZON = 84  # beyond this many days, rows are re-planned a window at a time ...
WINDOW_DAYS = 28  # ... of about this many days
SHORTFALL_TRIES = 40  # random (day, shift) picks to find an under-staffed one


def solve_heuristic(instance: Instance, *, time_limit: float = 1.5, seed: int = 0) -> Roster:
    """A complete roster that satisfies every hard rule it can, within about `time_limit`
    seconds (construction always completes, however short the limit)."""
    deadline = time.perf_counter() + max(0.0, time_limit)
    rng = random.Random(seed)
    st = RosterState(instance)
    lams = _construct(st, rng, deadline)
    # Only re-plans price half-worked weekends: they keep a row only if it breaks no more
    # rules, where a priced construction left Instance18's tightest rows short of their
    # minimum minutes when time was short. And only where the staff could fill every
    # weekend place: there each hole on a weekend is a day some half-worked weekend wasted
    # (Instance20). Where they cannot (Instance18, 22), which weekend days to leave short
    # is a matter of shift types and limits, and the price lost (Instance22 at 30 s:
    # 39448 / 39482 against 38066 / 38158 without).
    st.price_half_weekends = st.days > HALF_WEEKEND_MIN_DAYS and not weekend_places_short(instance)
    _local_search(st, rng, deadline, lams)
    return [list(row) for row in st.roster]


def _construct(st: RosterState, rng: random.Random, deadline: float) -> list[float]:
    """Give every employee a row, the least flexible first. Returns each row's day bonus."""
    start = time.perf_counter()
    order = sorted(range(st.n_employees), key=lambda e: (len(st.allowed[e]), rng.random()))
    lams = [0.0] * st.n_employees
    lam = 0.0
    for done, e in enumerate(order):
        now = time.perf_counter()
        # Fewer DP runs per row once the rows so far would not fit in CONSTRUCTION_SHARE.
        per_row = (now - start) / done if done else 0.0
        left = len(order) - done
        budget = FULL_BUDGET
        if now + per_row * left > start + CONSTRUCTION_SHARE * (deadline - start):
            budget = SHORT_BUDGET
        row, lam = best_row(st, e, rng, lam, budget)
        lams[e] = lam
        st.set_row(e, row)
        st.mark_built(e)
    return lams


def _local_search(st: RosterState, rng: random.Random, deadline: float, lams: list[float]):
    """Descent with the cheap moves and row re-optimisation, then ruin-and-recreate steps
    under record-to-record travel: a step may cost up to `RRT_SLACK` of the best objective
    (never a broken rule more), and the best roster met is the one kept."""
    for _ in range(MAX_ROUNDS):
        if time.perf_counter() >= deadline:
            return
        improved = _cell_pass(st, rng, deadline)
        improved = _swap_pass(st, rng, deadline) or improved
        improved = _row_pass(st, rng, deadline, lams) or improved
        if not improved:
            break
    if st.n_employees < 2:
        return
    bad = sum(st.row_violations(e, st.roster[e]) for e in range(st.n_employees))
    cost = st.total_cost()
    best = (bad, cost, [list(row) for row in st.roster])
    idle = 0
    for _ in range(LNS_STEPS):
        if idle >= LNS_PATIENCE or time.perf_counter() >= deadline:
            break
        slack = RRT_SLACK * best[1] + RRT_MIN
        chosen, day = _related(st, rng, rng.choice(LNS_SIZES))
        window = _window(st, day) if st.days > LONG_HORIZON else None
        step = _ruin_recreate(st, rng, chosen, lams, bad, cost, best[1] + slack, window)
        if step is None:
            idle += 1
            continue
        bad, cost = step
        if (bad, cost) < best[:2]:
            _cell_pass(st, rng, deadline, range(window[0], window[1] + 1) if window else None)
            cost = st.total_cost()
            best = (bad, cost, [list(row) for row in st.roster])
            idle = 0
        else:
            idle += 1
    for e, row in enumerate(best[2]):
        if row != st.roster[e]:
            st.set_row(e, row)


def _window(st: RosterState, day: int) -> tuple[int, int]:
    """About WINDOW_DAYS days around `day`, not splitting a weekend."""
    a = max(0, min(day - WINDOW_DAYS // 2, st.days - WINDOW_DAYS))
    b = min(st.days - 1, a + WINDOW_DAYS - 1)
    wk = st.weekend_of
    while a > 0 and wk[a] >= 0 and wk[a - 1] == wk[a]:
        a -= 1
    while b < st.days - 1 and wk[b] >= 0 and wk[b + 1] == wk[b]:
        b += 1
    return a, b


def _related(st: RosterState, rng: random.Random, k: int) -> tuple[list[int], int]:
    """k employees who could trade work, and the day they could trade: one off on an
    under-staffed (day, shift) who may work it, one working that day, the rest at random."""
    n_e = st.n_employees
    k = min(k, n_e)
    chosen: list[int] = []
    d = rng.randrange(st.days)
    for _ in range(SHORTFALL_TRIES):  # sampled: listing every shortfall costs a full scan
        day, s = rng.randrange(st.days), rng.randrange(st.n_shifts)
        if st.staffed[day][s] < st.req[day][s]:
            d = day
            free = [
                e
                for e in range(n_e)
                if st.roster[e][d] < 0 and st.cap[e][s] > 0 and d not in st.days_off[e]
            ]
            busy = [e for e in range(n_e) if st.roster[e][d] >= 0]
            for group in (free, busy):
                if group and len(chosen) < k:
                    chosen.append(rng.choice(group))
            break
    while len(chosen) < k:
        e = rng.randrange(n_e)
        if e not in chosen:
            chosen.append(e)
    return chosen, d


def _ruin_recreate(
    st: RosterState,
    rng: random.Random,
    chosen: list[int],
    lams: list[float],
    bad: int,
    cost: int,
    ceiling: float,
    window: tuple[int, int] | None = None,
) -> tuple[int, int] | None:
    """Clear the chosen rows (only days a..b of a `window`) and rebuild them one by one.
    Keep the result if it breaks no more rules and costs at most `ceiling` (or breaks
    fewer rules); return the new (violations, cost), or None after undoing it."""
    a, b = window if window is not None else (0, st.days - 1)
    old = {e: list(st.roster[e]) for e in chosen}
    old_bad = {e: st.row_violations(e, old[e]) for e in chosen}
    delta = 0
    for e in chosen:
        empty = list(old[e])
        empty[a : b + 1] = [OFF] * (b - a + 1)
        delta += st.row_delta(e, empty, a, b)
        st.set_row(e, empty, a, b)
    rng.shuffle(chosen)
    new_lams = {}
    new_bad = 0
    for e in chosen:
        row, new_lams[e] = best_row(st, e, rng, lams[e], FULL_BUDGET, window)
        # The old row may suit the new neighbours better than the rebuilt one.
        cands = [
            (st.row_violations(e, row), st.row_delta(e, row, a, b), row),
            (old_bad[e], st.row_delta(e, old[e], a, b), old[e]),
        ]
        row_bad, dl, row = min(cands, key=lambda c: (c[0], c[1]))
        delta += dl
        new_bad += row_bad
        st.set_row(e, row, a, b)
    before = sum(old_bad.values())
    if new_bad < before or (new_bad == before and cost + delta <= ceiling):
        for e, lam in new_lams.items():
            lams[e] = lam
        return bad + new_bad - before, cost + delta
    for e in chosen:
        st.set_row(e, old[e], a, b)
    return None


def _cell_pass(
    st: RosterState, rng: random.Random, deadline: float, days_in: range | None = None
) -> bool:
    """Best single-cell change per (employee, day), where one can pay off: the day has an
    under-staffed shift, the employee's shift is over-staffed, or the employee has a request."""
    days = list(days_in if days_in is not None else range(st.days))
    rng.shuffle(days)
    employees = range(st.n_employees)
    roster, allowed, has_request = st.roster, st.allowed, st.has_request
    delta, can_set = st.delta, st.can_set
    improved = False
    for step, d in enumerate(days):
        if step % 16 == 0 and time.perf_counter() >= deadline:
            break
        cnt, req = st.staffed[d], st.req[d]
        for e in employees:
            a = roster[e][d]
            if has_request[e][d] or (a >= 0 and cnt[a] > req[a]):
                cands = [OFF, *allowed[e]]
            else:
                cands = [s for s in allowed[e] if cnt[s] < req[s]]
                if not cands:
                    continue
            best_b, best_dl = a, 0
            for b in cands:
                if b != a:
                    dl = delta(e, d, b)
                    if dl < best_dl and can_set(e, d, b):
                        best_b, best_dl = b, dl
            if best_b != a:
                st.set(e, d, best_b)
                improved = True
    return improved


def _swap_pass(st: RosterState, rng: random.Random, deadline: float) -> bool:
    """Swap two employees' assignments on one day (cover unchanged) to meet requests."""
    rc = st.request_cost
    roster, can_set = st.roster, st.can_set
    improved = False
    cells = [
        (e, d)
        for e in range(st.n_employees)
        for d in range(st.days)
        if st.has_request[e][d]
        and rc(e, d, roster[e][d]) > min(rc(e, d, x) for x in (OFF, *st.allowed[e]))
    ]
    rng.shuffle(cells)
    for step, (e, d) in enumerate(cells):
        if step % 32 == 0 and time.perf_counter() >= deadline:
            break
        a = roster[e][d]
        base = rc(e, d, a)
        for f in range(st.n_employees):
            b = roster[f][d]
            if b == a:
                continue
            dl = rc(e, d, b) - base + rc(f, d, a) - rc(f, d, b)
            if dl < 0 and can_set(e, d, b) and can_set(f, d, a):
                st.set(e, d, b)
                st.set(f, d, a)
                improved = True
                break
    return improved


def _row_pass(st: RosterState, rng: random.Random, deadline: float, lams: list[float]) -> bool:
    """Re-optimise each employee's whole row against the others; keep it if no worse."""
    order = list(range(st.n_employees))
    rng.shuffle(order)
    improved = False
    for e in order:
        if time.perf_counter() >= deadline:
            break
        row, lam = best_row(st, e, rng, lams[e], FULL_BUDGET)
        if row == st.roster[e]:
            continue
        old_bad = st.row_violations(e, st.roster[e])
        new_bad = st.row_violations(e, row)
        dl = st.row_delta(e, row)
        if new_bad < old_bad or (new_bad == old_bad and dl <= 0):
            lams[e] = lam
            st.set_row(e, row)
            improved = improved or new_bad < old_bad or dl < 0
    return improved
