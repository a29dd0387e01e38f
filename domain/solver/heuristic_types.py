"""Shift types for one employee's worked days: the second stage of building a row.

Every function here works on a frame of consecutive days (the whole horizon, or a window
and its margins); `gains[d]` lists the value of each type the employee may work
(`RosterState.allowed[e]`) on day d of the frame, None where the day may not be worked.
A day whose type must not change carries `FROZEN` for that type and NEG for the others.
"""

from __future__ import annotations

import functools
import resource
import sys
from typing import Any

from domain.solver.heuristic_pattern import NEG
from domain.solver.heuristic_state import RosterState, runs_ok
from domain.solver.instance import OFF

FROZEN = 1e7  # gain of a day's fixed type: the pattern search must keep it worked
RUN_TABLE_LIMIT = 60_000  # most days * run length * types^2 for which `run_values` is built

Gains = list[list[float] | None]


def run_values(st: RosterState, e: int, gains: Gains) -> list[list[float]] | None:
    """runs[i][k]: the best value of working days i..i+k of the frame under the rotation
    rule (a DP over shift types along the run).

    None when no rotation rule binds between the employee's types (the best type of each
    day will do) or when the table would cost too much; the pattern search then values a
    day by its best type alone, which the rotation may not allow next to its neighbours'
    (`shift_types` then loses the difference).

    The table is built with numpy, a run length at a time for every start day at once: the
    same sums in the same order as `run_values_python`, so the same floats, five times
    faster (Curtois Instance20: 0.76 ms a row against 3.8 ms; this table was a third of the
    heuristic's time there). Where numpy cannot be loaded safely (`_numpy`), the pure-Python
    DP builds it.
    """
    allowed = st.allowed[e]
    n_a = len(allowed)
    n_days = len(gains)
    k_max = min(st.max_run[e], n_days)
    ok = [[st.follows[a][b] for b in allowed] for a in allowed]
    if all(all(r) for r in ok) or n_days * k_max * n_a * n_a > RUN_TABLE_LIMIT:
        return None
    preds = [[i for i in range(n_a) if ok[i][j]] for j in range(n_a)]
    np = _numpy()
    if np is None:
        return run_values_python(gains, k_max, ok, preds)
    value = np.array([[NEG] * n_a if g is None else g for g in gains], dtype=float)
    table = np.full((n_days, k_max), NEG)
    best = value  # best[i][j]: the best run from day i of the current length ending in j
    table[:, 0] = best.max(axis=1)
    for k in range(1, k_max):
        prev = best[: n_days - k]
        best = np.empty((n_days - k, n_a))
        for j, p in enumerate(preds):
            if not p:
                best[:, j] = NEG
            else:
                top = prev.max(axis=1) if len(p) == n_a else prev[:, p].max(axis=1)
                best[:, j] = top + value[k:, j]
        table[: n_days - k, k] = best.max(axis=1)
    # A run stops at the first day that may not be worked; the rows end there.
    rows = table.tolist()
    runs: list[list[float]] = []
    stretch = 0
    for i in range(n_days - 1, -1, -1):
        stretch = stretch + 1 if gains[i] is not None else 0
        runs.append(rows[i][: min(stretch, k_max)])
    runs.reverse()
    return runs


def run_values_python(
    gains: Gains, k_max: int, ok: list[list[bool]], preds: list[list[int]]
) -> list[list[float]]:
    """`run_values` in plain Python, day by day along each run."""
    n_a = len(ok)
    n_days = len(gains)
    every = range(n_a)
    runs: list[list[float]] = []
    for i in range(n_days):
        g = gains[i]
        if g is None:
            runs.append([])
            continue
        best = list(g)
        row = [max(best)]
        for d in range(i + 1, min(i + k_max, n_days)):
            g = gains[d]
            if g is None:
                break
            m = max(best)
            ok_top = ok[best.index(m)]
            best = [
                (m if ok_top[j] else max((best[p] for p in preds[j]), default=NEG)) + g[j]
                for j in every
            ]
            row.append(max(best))
        runs.append(row)
    return runs


# numpy is imported only where the address space leaves it room (or it is loaded already):
# under a tight RLIMIT_AS its OpenBLAS does not raise but ends the process ("Memory
# allocation still failed after 10 retries, giving up": measured with RLIMIT_AS of 60-120
# MiB; 150 MiB was enough), and the heuristic is what a solve under a tiny limit returns.
NUMPY_MIN_ADDRESS_SPACE = 1 << 30


@functools.cache
def _numpy() -> Any:
    """numpy, or None where importing it is not safe. Imported on first use, not with this
    module: the solver child sets its address-space limit before loading big libraries."""
    if "numpy" in sys.modules:
        return sys.modules["numpy"]
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit != resource.RLIM_INFINITY and limit < NUMPY_MIN_ADDRESS_SPACE:
        return None
    try:
        import numpy
    except (ImportError, MemoryError):
        return None
    return numpy


def shift_types(st: RosterState, e: int, work: list[bool], gains: Gains) -> list[int]:
    """The best shift type for each worked day of the frame under the rotation rule: a DP
    along each run (runs are independent). Caps and minutes are left to `repair_row`."""
    allowed = st.allowed[e]
    n_a = len(allowed)
    ok = [[st.follows[a][b] for b in allowed] for a in allowed]
    preds = [[i for i in range(n_a) if ok[i][j]] for j in range(n_a)]
    every = range(n_a)
    n_days = len(work)
    row = [OFF] * n_days
    d = 0
    while d < n_days:
        first = gains[d]
        if not work[d] or first is None:
            d += 1
            continue
        start = d
        best = list(first)
        back: list[list[int]] = []
        d += 1
        while d < n_days and work[d] and (g := gains[d]) is not None:
            m = max(best)
            top = best.index(m)
            ok_top = ok[top]
            nb, bk = [], []
            for j in every:
                if ok_top[j]:
                    nb.append(m + g[j])
                    bk.append(top)
                elif p := preds[j]:
                    i = max(p, key=best.__getitem__)
                    nb.append(best[i] + g[j])
                    bk.append(i)
                else:
                    nb.append(NEG)
                    bk.append(0)
            best = nb
            back.append(bk)
            d += 1
        i = best.index(max(best))
        for t in range(d - 1, start - 1, -1):
            row[t] = allowed[i]
            if t > start:
                i = back[t - start - 1][i]
    return row


def repair_row(st: RosterState, e: int, row: list[int], gains: Gains) -> None:
    """Bring a whole row within the per-type caps and the minutes, in place: move days off
    over-used types, then drop days or shorten shifts while over the maximum minutes, then
    lengthen shifts while under the minimum; each time the valid change that loses least.

    `gains` covers the whole horizon; days with None (outside the frame) or a `FROZEN`
    type are never touched."""
    allowed = st.allowed[e]
    pos = {s: i for i, s in enumerate(allowed)}
    counts = [0] * st.n_shifts
    minutes = 0
    for s in row:
        if s >= 0:
            counts[s] += 1
            minutes += st.dur[s]
    cap, follows, dur = st.cap[e], st.follows, st.dur
    last = st.days - 1

    def movable(t: int) -> bool:
        g = gains[t]
        return row[t] >= 0 and g is not None and g[pos[row[t]]] < FROZEN / 2

    def alternative(t: int, sign: int) -> int:
        """Best valid other type for day t; sign -1/+1: only shorter/longer ones."""
        a, g = row[t], gains[t]
        best, best_g = -1, NEG
        if g is None:
            return best
        for b in allowed:
            if b == a or counts[b] >= cap[b] or (dur[b] - dur[a]) * sign < 0:
                continue
            if sign and dur[b] == dur[a]:
                continue
            if t > 0 and row[t - 1] >= 0 and not follows[row[t - 1]][b]:
                continue
            if t < last and row[t + 1] >= 0 and not follows[b][row[t + 1]]:
                continue
            if g[pos[b]] > best_g:
                best, best_g = b, g[pos[b]]
        return best

    def rank(t: int) -> float:
        g = gains[t]
        return 0.0 if g is None else g[pos[row[t]]]

    def change(t: int, b: int) -> None:
        nonlocal minutes
        a = row[t]
        row[t] = b
        if a >= 0:
            counts[a] -= 1
            minutes -= dur[a]
        if b >= 0:
            counts[b] += 1
            minutes += dur[b]

    args = (st.min_run[e], st.max_run[e], st.min_off[e])

    def droppable(t: int) -> bool:
        """Day t may go off: the runs and the minimum minutes still hold."""
        a = row[t]
        if minutes - dur[a] < st.min_minutes[e]:
            return False
        row[t] = OFF
        ok = runs_ok(row, t, t, *args)
        row[t] = a
        return ok

    def retype_run(t: int, a: int) -> bool:
        """Re-plan the types of the whole run holding day t without type a, within the
        caps (a single day often cannot move: its neighbours' types pin it)."""
        start, end = t, t
        while start > 0 and row[start - 1] >= 0:
            start -= 1
        while end < last and row[end + 1] >= 0:
            end += 1
        here = [0] * st.n_shifts
        for d in range(start, end + 1):
            here[row[d]] += 1
        full = {b for b in allowed if counts[b] - here[b] >= cap[b]} | {a}
        sub = []
        for d in range(start, end + 1):
            g = gains[d]
            if g is None:
                return False
            sub.append([NEG if b in full else g[pos[b]] for b in allowed])
        types = shift_types(st, e, [True] * len(sub), sub)
        if any(sub[i][pos[b]] == NEG for i, b in enumerate(types)):
            return False
        after = list(counts)
        for d, b in zip(range(start, end + 1), types, strict=True):
            after[row[d]] -= 1
            after[b] += 1
        if any(after[b] > cap[b] and after[b] > counts[b] for b in allowed):
            return False
        for d, b in zip(range(start, end + 1), types, strict=True):
            change(d, b)
        return True

    for drop in (False, True):  # other types first; days off only when none will do
        progress = True
        while progress:  # a change can free a neighbour's, so go round until none helps
            progress = False
            for a in allowed:
                if counts[a] <= cap[a]:
                    continue
                days = sorted((t for t in range(st.days) if row[t] == a and movable(t)), key=rank)
                for t in days:
                    if row[t] != a:
                        continue
                    b: int | None = alternative(t, 0)
                    if b is not None and b < 0:  # no other type fits: the run, or off
                        if retype_run(t, a):
                            progress = True
                            if counts[a] <= cap[a]:
                                break
                            continue
                        b = OFF if drop and droppable(t) else None
                    if b is not None:
                        change(t, b)
                        progress = True
                        if counts[a] <= cap[a]:
                            break
    if minutes > st.max_minutes[e]:
        while minutes > st.max_minutes[e]:
            best, best_loss = None, float("inf")
            for t in range(st.days):
                if not movable(t):
                    continue
                g, a = gains[t], row[t]
                b = alternative(t, -1)
                if b >= 0 and g[pos[a]] - g[pos[b]] < best_loss:  # type: ignore[index]
                    best, best_loss = (t, b), g[pos[a]] - g[pos[b]]  # type: ignore[index]
                if g[pos[a]] < best_loss and droppable(t):  # type: ignore[index]
                    best, best_loss = (t, OFF), g[pos[a]]  # type: ignore[index]
            if best is None:
                break
            change(*best)
    if minutes < st.min_minutes[e]:
        for t in sorted((t for t in range(st.days) if movable(t)), key=rank):
            b = alternative(t, 1)
            if b >= 0:
                change(t, b)
                if minutes >= st.min_minutes[e]:
                    break
