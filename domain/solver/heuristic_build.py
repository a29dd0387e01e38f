"""One employee's best row given everyone else: the heuristic's construction step, and its
large move (re-plan a row, or a window of it, against the others' staffing).

A row is built in two stages, so that the run rules hold by construction rather than by
repair (a day-by-day greedy breaks them all the time):

1. Which days to work: `heuristic_pattern.PatternDP`, a DP whose states are runs, so every
   pattern it returns obeys the max/min consecutive shifts and min days off rules with the
   exemptions at the horizon's ends (FORMAT.md 4.6-4.8); days off are closed, and so are
   the weekends beyond max_weekends (4.9). The worked-day count (min/max total minutes,
   4.5) is steered by a bonus per worked day, bisected (`search_count`).
2. Which shift type on each worked day: `heuristic_types.shift_types`, a DP along each run
   under the rotation rule (4.3); then the per-type maximum (4.4) and the minutes.

The value of working shift s on day d is its marginal effect on the objective (FORMAT.md
5): the cover weight it saves or adds given the others' staffing, and the requests.

A window re-plans only days a..b: the frame adds margins on both sides long enough to hold
a whole run and a whole rest, whose days keep their current assignment (`FROZEN`), so
that the runs crossing the window's edges are checked like any other.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from domain.solver.heuristic_pattern import (
    NEG,
    PatternDP,
    search_count,
    skeleton_weekends,
    worked_weekends,
)
from domain.solver.heuristic_state import RosterState, runs_ok
from domain.solver.heuristic_types import FROZEN, Gains, repair_row, run_values, shift_types
from domain.solver.instance import OFF

TIE_NOISE = 0.5  # random tie-breaks: keeps the worked-day count a fine function of lam
DEPTH_BONUS = 0.02  # construction: extra value per further person missing, share of weight
SCARCITY_BONUS = 0.05  # ... and per unit of the shift type's scarcity
EXPECTED_FLOOR = 0.05  # ... least share of a shortfall's weight while others may fill it
# A pattern pays this share of the dearest weekend shortfall (`RosterState.weekend_under`)
# for a weekend it works on one day only, when it could work both. Only the re-plans after
# construction pay it, on horizons longer than HALF_WEEKEND_MIN_DAYS where the staff could
# fill every weekend place (`RosterState.price_half_weekends`: heuristic.py says why, and
# docs/solver.md has the measurements). There a half-worked weekend wastes a day the
# weekend's holes need, which the search after the heuristic hardly ever recovers
# (Instance20, heuristic alone with the 30 s pipeline's budget: 6629 without, 6157 with).
HALF_WEEKEND = 1.0
HALF_WEEKEND_MIN_DAYS = 42
WASTED_WEEKENDS = 1  # open weekends a row may leave unworked before the skeleton is tried


def bounds(st: RosterState, e: int) -> tuple[int, int]:
    """How many days e should work: the range its minutes allow, given the lengths of the
    types it may work and their caps (long shifts let fewer days reach the minimum; the
    repair then has to pick enough of them). Static: computed once per employee."""
    if st.bounds[e] is None:
        lengths = sorted(
            (st.dur[s] for s in st.allowed[e] for _ in range(min(st.cap[e][s], st.days))),
            reverse=True,
        )[: st.days]
        most, lo = 0, len(lengths)  # the most minutes of c days: the c longest shifts
        for c, length in enumerate(lengths):
            if most >= st.min_minutes[e]:
                lo = c
                break
            most += length
        least, hi = 0, 0  # the least minutes of c days: the c shortest
        for length in reversed(lengths):
            if least + length > st.max_minutes[e]:
                break
            least += length
            hi += 1
        st.bounds[e] = (lo, max(hi, lo))
    return st.bounds[e]


def shift_values(st: RosterState, e: int, rng: random.Random, first: int, last: int) -> Gains:
    """gains[d - first][i]: the value of e working allowed[e][i] on day d, for d in
    first..last, given the others (None on e's days off).

    Once e's row is built these are the exact marginal costs, so that the search optimises
    the objective itself. The random part breaks ties, between days and between types
    (ties broken by type order pile the spare people onto the same types).
    """
    if not st.built[e]:
        return _construction_values(st, e, rng)[first : last + 1]
    row = st.roster[e]
    allowed = st.allowed[e]
    off = st.days_off[e]
    on_w, off_w, has_request = st.on_w[e], st.off_w[e], st.has_request[e]
    out: Gains = []
    rnd = rng.random
    staffed, reqs, w_under, w_over = st.staffed, st.req, st.w_under, st.w_over
    for d in range(first, last + 1):
        if d in off:
            out.append(None)
            continue
        a = row[d]
        cnt, req, wu, wo = staffed[d], reqs[d], w_under[d], w_over[d]
        gains = [
            (wu[s] if cnt[s] - (a == s) < req[s] else -wo[s]) + rnd() * TIE_NOISE for s in allowed
        ]
        if has_request[d]:
            on, of = on_w[d], off_w[d]
            gains = [g + on[s] - of[s] for g, s in zip(gains, allowed, strict=True)]
        out.append(gains)
    return out


def _construction_values(st: RosterState, e: int, rng: random.Random) -> Gains:
    """While rows are still being built, a shortfall counts only as far as the unbuilt
    rows are not expected to fill it (`RosterState.expected`): that steers the first rows
    to the days few others can staff, often the weekends. It is also worth a little more
    the deeper it is and the fewer people can work its type."""
    allowed = st.allowed[e]
    expected, share = st.expected, st.share[e]
    bonus = [1.0 + SCARCITY_BONUS * st.scarcity[s] for s in allowed]
    off = st.days_off[e]
    on_w, off_w = st.on_w[e], st.off_w[e]
    out: Gains = []
    rnd = rng.random
    for d in range(st.days):
        if d in off:
            out.append(None)
            continue
        cnt, req, wu, wo = st.staffed[d], st.req[d], st.w_under[d], st.w_over[d]
        on, of = on_w[d], off_w[d]
        missing = sum(x - y for x, y in zip(req, cnt, strict=True) if x > y)
        factor = min(1.0, max(EXPECTED_FLOOR, (missing - expected[d] + share[d] + 1) / 2))
        gains = []
        for i, s in enumerate(allowed):
            short = req[s] - cnt[s]
            g = wu[s] * factor * (bonus[i] + DEPTH_BONUS * (short - 1)) if short > 0 else -wo[s]
            gains.append(g + on[s] - of[s] + rnd() * TIE_NOISE)
        out.append(gains)
    return out


@dataclass
class Frame:
    """The days a row is planned over (first..last) and what the rest of the row asks."""

    first: int
    last: int
    lo: int  # worked days wanted inside the frame (frozen ones included)
    hi: int
    weekends: list[tuple[int, ...]]  # frame-relative days of the weekends it may choose
    limit: int  # how many of those it may work
    current: list[int]  # which of them the row works now
    whole: bool  # the frame is the whole horizon

    def open(self, values: list[float | None], keep: list[int], rng: random.Random):
        """Close the weekends beyond the limit: keep `keep`, then the ones worth most."""
        if self.limit >= len(self.weekends):
            return values
        chosen = set(keep[: self.limit])
        scored = [
            (sum(max(0.0, v) for d in days if (v := values[d]) is not None) + rng.random(), w)
            for w, days in enumerate(self.weekends)
            if w not in chosen
        ]
        scored.sort(reverse=True)
        chosen.update(w for _, w in scored[: self.limit - len(chosen)])
        out = list(values)
        for w, days in enumerate(self.weekends):
            if w not in chosen:
                for d in days:
                    out[d] = None
        return out


def _frame(
    st: RosterState, e: int, rng: random.Random, window: tuple[int, int] | None
) -> tuple[Frame, Gains]:
    n_days, row, allowed = st.days, st.roster[e], st.allowed[e]
    a, b = window if window is not None else (0, n_days - 1)
    a, b = max(a, 0), min(b, n_days - 1)
    margin = min(st.max_run[e], n_days) + st.min_off[e] + 1
    first, last = (0, n_days - 1) if (a, b) == (0, n_days - 1) else (a - margin, b + margin)
    first, last = max(first, 0), min(last, n_days - 1)
    free = shift_values(st, e, rng, first, last)
    gains: Gains = []
    for d in range(first, last + 1):
        if a <= d <= b:
            gains.append(free[d - first])
        elif row[d] >= 0:
            gains.append([FROZEN if s == row[d] else NEG for s in allowed])
        else:
            gains.append(None)
    outside = sum(1 for d in range(n_days) if (d < first or d > last) and row[d] >= 0)
    lo, hi = bounds(st, e)
    inside = [w for w in st.inst.weekends if a <= w[0] and w[-1] <= b]
    worked_out = sum(
        1
        for w in st.inst.weekends
        if not (a <= w[0] and w[-1] <= b) and any(row[d] >= 0 for d in w)
    )
    frame = Frame(
        first=first,
        last=last,
        lo=max(0, lo - outside),
        hi=max(0, hi - outside),
        weekends=[tuple(d - first for d in w) for w in inside],
        limit=max(0, st.max_weekends[e] - worked_out),
        current=[i for i, w in enumerate(inside) if any(row[d] >= 0 for d in w)],
        whole=(first, last) == (0, n_days - 1),
    )
    return frame, gains


def best_row(
    st: RosterState,
    e: int,
    rng: random.Random,
    lam: float = 0.0,
    budget: int = 16,
    window: tuple[int, int] | None = None,
) -> tuple[list[int], float]:
    """A row for e, feasible by construction where it can be, that suits the others'
    current staffing; with `window` = (a, b), only days a..b may change.

    `lam` is a warm start for the bonus per worked day and `budget` caps the pattern DP
    runs of one count search. Returns the row and the bonus used, to warm-start the next
    call. The shift types are chosen without the per-type caps, which `repair_row` then
    enforces (pricing the over-used types and searching again cost more than it gained).
    """
    if not st.allowed[e]:
        return [OFF] * st.days, lam
    frame, gains = _frame(st, e, rng, window)
    work, lam, usable = _pattern(st, e, frame, gains, lam, budget, rng)
    current = st.roster[e]
    row = list(current)
    row[frame.first : frame.last + 1] = shift_types(st, e, work, usable)
    whole: Gains = [None] * st.days
    whole[frame.first : frame.last + 1] = usable
    repair_row(st, e, row, whole)
    if window is not None:
        # The frame reaches past the window so the runs across its edges are seen, and the
        # pattern may still drop a worked day there (its gain only favours keeping it). The
        # caller stores days a..b alone, so that is all it may be given: otherwise it
        # prices and checks a row other than the one it keeps (Instance22 ended with a
        # broken minimum run that the ruin-and-recreate step had counted as repaired).
        a, b = max(window[0], 0), min(window[1], st.days - 1)
        row[:a] = current[:a]
        row[b + 1 :] = current[b + 1 :]
    return row, lam


def _pattern(
    st: RosterState,
    e: int,
    frame: Frame,
    gains: Gains,
    lam: float,
    budget: int,
    rng: random.Random,
) -> tuple[list[bool], float, Gains]:
    """The work pattern over the frame, its bonus per day, and the gains of the days left
    open.

    Weekends beyond the limit are closed before the pattern search, the least valuable
    first. That can break the rhythm of runs and days off, so that the minimum minutes are
    out of reach or reachable only by leaving open weekends unworked. So the weekends the
    row works now are tried too, and (over the whole horizon) those of `skeleton_weekends`,
    chosen for the most days first; the pattern that reaches the minimum wins, else the one
    of more value.
    """
    raw = [None if g is None else max(g) for g in gains]
    runs = run_values(st, e, gains)
    day_value = frame.open(raw, [], rng)
    work, lam, count = _search_fit(st, e, frame, day_value, lam, budget, runs)
    keeps = []
    if frame.limit < len(frame.weekends):
        if frame.current:
            keeps.append(frame.current)
        wasted = len(worked_weekends(tuple(frame.weekends), work)) < frame.limit - WASTED_WEEKENDS
        if frame.whole and (count < frame.lo or wasted):
            if st.skeleton[e] is None:  # it hardly depends on the staffing: keep the first
                args = (st.min_run[e], st.max_run[e], st.min_off[e])
                weekends = st.inst.weekends
                st.skeleton[e] = skeleton_weekends(raw, *args, weekends, frame.limit, rng)
            keeps.append(st.skeleton[e])
    for keep in keeps:
        other_value = frame.open(raw, keep, rng)
        other, other_lam, other_count = _search_fit(st, e, frame, other_value, lam, budget, runs)
        if (other_count >= frame.lo, _worth(raw, other, runs)) > (
            count >= frame.lo,
            _worth(raw, work, runs),
        ):
            work, lam, day_value, count = other, other_lam, other_value, other_count
    usable = [g if v is not None else None for g, v in zip(gains, day_value, strict=True)]
    return work, lam, usable


def _search_fit(
    st: RosterState,
    e: int,
    frame: Frame,
    day_value: list[float | None],
    lam: float,
    budget: int,
    runs: list[list[float]] | None,
) -> tuple[list[bool], float, int]:
    """`_search` then `_fit_count`: (pattern, its bonus per day, its worked-day count). The
    price of half weekends must never cost the minimum minutes: a priced pattern short of
    them is searched again without it (priced patterns of Instance18's tightest rows fell
    short when construction was priced too)."""
    work, lam = _search(st, e, frame, day_value, lam, budget, runs)
    count = _fit_count(st, e, frame, work, day_value)
    if count < frame.lo and st.price_half_weekends:
        plain, plain_lam = _search(st, e, frame, day_value, lam, budget, runs, priced=False)
        plain_count = _fit_count(st, e, frame, plain, day_value)
        if plain_count > count:
            return plain, plain_lam, plain_count
    return work, lam, count


def _search(
    st: RosterState,
    e: int,
    frame: Frame,
    day_value: list[float | None],
    lam: float,
    budget: int,
    runs: list[list[float]] | None,
    priced: bool = True,
) -> tuple[list[bool], float]:
    half = HALF_WEEKEND * st.weekend_under if priced and st.price_half_weekends else 0.0
    dp = PatternDP(
        day_value,
        st.min_run[e],
        st.max_run[e],
        st.min_off[e],
        weekends=tuple(frame.weekends),
        runs=runs,
        half_weekend=half,
    )
    sizes = [abs(v) for v in day_value if v is not None and v < FROZEN / 2]
    # A warm start beyond the largest value is stale; beyond +-top the count alone decides
    # (the bonus outweighs every difference in value, the prices of half weekends included).
    scale = 2.0 + max(sizes, default=0.0)
    lam = max(-scale, min(scale, lam))
    top = 1.0 + sum(sizes) + half * len(frame.weekends)
    return search_count(dp, frame.lo, frame.hi, lam, top, budget)


def _fit_count(
    st: RosterState, e: int, frame: Frame, work: list[bool], day_value: list[float | None]
) -> int:
    """Add or drop single days, best value first, while the run rules still hold.
    Returns the worked-day count reached."""
    args = (st.min_run[e], st.max_run[e], st.min_off[e])
    lo, hi = frame.lo, frame.hi
    count = sum(work)
    for _ in range(2):
        if lo <= count <= hi:
            break
        adding = count < lo
        flags = [0 if w else OFF for w in work]
        order = sorted(
            (
                d
                for d, v in enumerate(day_value)
                if v is not None and work[d] != adding and v < FROZEN / 2
            ),
            key=lambda d: day_value[d],  # type: ignore[arg-type,return-value]
            reverse=adding,
        )
        for d in order:
            flags[d] = 0 if adding else OFF
            if runs_ok(flags, d, d, *args):
                work[d] = adding
                count += 1 if adding else -1
                if lo <= count <= hi:
                    break
            else:
                flags[d] = OFF if adding else 0
    return count


def _worth(values: list[float | None], work: list[bool], runs: list[list[float]] | None) -> float:
    """What the pattern search sees a pattern worth (without its bonus per day)."""
    if runs is None:
        return sum(v for v, w in zip(values, work, strict=True) if w and v is not None)
    total, d, n_days = 0.0, 0, len(work)
    while d < n_days:
        if work[d]:
            end = d
            while end + 1 < n_days and work[end + 1]:
                end += 1
            total += runs[d][end - d]
            d = end + 1
        else:
            d += 1
    return total
