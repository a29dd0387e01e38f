"""Work patterns for one employee: which days to work, under the run rules by construction.

`PatternDP` finds the pattern of greatest value for a bonus `lam` per worked day and a
price `mu` per worked weekend; `search_count` bisects `lam` so that the number of worked days
fits the range the employee's minutes allow; `skeleton_weekends` picks, for feasibility
alone, the weekends that a pattern with the most days possible needs.
"""

from __future__ import annotations

import itertools
import random

NEG = float("-inf")
SKELETON_STEPS = 6  # bisection steps on the weekend price in `skeleton_weekends`
SKELETON_FIRST_PRICE = 0.25  # ... first bracket (0, this], in days per weekend
SKELETON_NOISE = 0.01  # random part of each day's value there
SKELETON_TILT = 2.0  # ... and its share of the cover value, in days over the horizon


class PatternDP:
    """Best work pattern under the run rules, for any bonus per day and price per weekend.

    A DP over runs rather than days: a run of work from day i to day j is worth
    `starts[i] + prefix[j + 1]`, where `starts[i]` is the best value before i (after an off
    run long enough, or nothing but days off since day 0) less `prefix[i]`; so each day
    costs one max over the days on which a run ending there may start. The horizon's ends
    follow FORMAT.md 4.6-4.8: a run may be shorter than min_run when it starts on day 0 or
    ends on the last day, and off runs at either end may be of any length.

    A weekend (a tuple of consecutive days) costs `mu` once if any of its days is worked:
    its first day is charged whenever worked, each later day only when a run starts on it.
    """

    def __init__(
        self,
        values: list[float | None],
        min_run: int,
        max_run: int,
        min_off: int,
        weekends: tuple[tuple[int, ...], ...] = (),
        runs: list[list[float]] | None = None,
        half_weekend: float = 0.0,
    ) -> None:
        n_days = len(values)
        # runs[i][k]: value of a run of k + 1 days from day i, when the days of a run are
        # not worth the sum of their own values (shift types must follow one another).
        self.runs = runs
        self.n_days = n_days
        self.min_run, self.min_off = min_run, min_off
        self.k_max = min(max_run, n_days)
        firsts = [False] * n_days
        self.later = [False] * n_days
        for days in weekends:
            firsts[days[0]] = True
            for d in days[1:]:
                self.later[d] = True
        base = [0.0] * (n_days + 1)  # prefix sums of the values, of the workable days,
        count = [0] * (n_days + 1)  # and of the workable first days of weekends
        first = [0] * (n_days + 1)
        block = [-1] * n_days  # the last day <= d that may not be worked
        acc, n, f, last = 0.0, 0, 0, -1
        for d, v in enumerate(values):
            if v is None:
                last = d
            else:
                acc += v
                n += 1
                f += firsts[d]
            base[d + 1] = acc
            count[d + 1] = n
            first[d + 1] = f
            block[d] = last
        self.base, self.count, self.first, self.block = base, count, first, block
        # A price on a weekend worked on one day only, when its other day could be worked:
        # charged where a run starts on a weekend's later day or ends before one.
        self.half_start = [0.0] * n_days
        self.half_end = [0.0] * n_days
        if half_weekend:
            for days in weekends:
                for a, b in itertools.pairwise(days):
                    if values[a] is not None and values[b] is not None:
                        self.half_start[b] = half_weekend
                        self.half_end[a] = half_weekend

    def _window(self, j: int) -> tuple[int, int]:
        """First and last day on which a run ending on day j may start (inclusive)."""
        lo = max(j - self.k_max + 1, self.block[j] + 1)
        hi = j if j == self.n_days - 1 else j - self.min_run + 1
        if hi < 0 and lo == 0:
            hi = 0  # a run from day 0 is exempt from min_run
        return lo, hi

    def solve(self, lam: float, mu: float = 0.0) -> list[bool]:
        n_days, block, later = self.n_days, self.block, self.later
        half_start, half_end = self.half_start, self.half_end
        if n_days == 0:
            return []
        if self.runs is not None:
            return self._solve_runs(lam, mu)
        if mu:
            prefix = [
                b + lam * c - mu * f
                for b, c, f in zip(self.base, self.count, self.first, strict=True)
            ]
        else:
            prefix = [b + lam * c for b, c in zip(self.base, self.count, strict=True)]
        k1, m1, gap = self.k_max - 1, self.min_run - 1, self.min_off + 1
        last_day = n_days - 1
        starts = [NEG] * n_days
        best_end = [NEG] * n_days  # best value of days 0..j with the last run ending <= j
        best_at = [-1] * n_days  # ... and the day that run ends
        run_max, run_at = NEG, -1
        for j in range(n_days):
            if block[j] != j:
                t = j - gap
                before = best_end[t] if t >= 0 else 0.0
                if before < 0.0:
                    before = 0.0  # nothing but days off since day 0
                starts[j] = before - prefix[j] - (mu if later[j] else 0.0) - half_start[j]
                lo = j - k1
                if block[j] >= lo:
                    lo = block[j] + 1
                hi = j if j == last_day else j - m1
                if hi < 0 and lo == 0:
                    hi = 0
                if hi >= lo:
                    end = max(starts[lo : hi + 1]) + prefix[j + 1] - half_end[j]
                    if end > run_max:
                        run_max, run_at = end, j
            best_end[j] = run_max
            best_at[j] = run_at
        work = [False] * n_days
        j = run_at if run_max > 0.0 else -1
        while j >= 0:
            lo, hi = self._window(j)
            window = starts[lo : hi + 1]
            i = lo + window.index(max(window))
            for d in range(i, j + 1):
                work[d] = True
            t = i - gap
            j = best_at[t] if t >= 0 and best_end[t] > 0.0 else -1
        return work

    def _solve_runs(self, lam: float, mu: float) -> list[bool]:
        """`solve` with a value per run (self.runs) instead of prefix sums of day values."""
        n_days, block, later, runs, first = (
            self.n_days,
            self.block,
            self.later,
            self.runs,
            self.first,
        )
        assert runs is not None
        half_start, half_end = self.half_start, self.half_end
        k1, m1, gap = self.k_max - 1, self.min_run - 1, self.min_off + 1
        last_day = n_days - 1
        starts = [NEG] * n_days
        best_end = [NEG] * n_days
        best_at = [-1] * n_days
        best_start = [-1] * n_days  # where the best run ending on day j starts
        run_max, run_at = NEG, -1
        for j in range(n_days):
            if block[j] != j:
                t = j - gap
                before = best_end[t] if t >= 0 else 0.0
                if before < 0.0:
                    before = 0.0
                starts[j] = before - (mu if later[j] else 0.0) - half_start[j]
                lo = j - k1
                if block[j] >= lo:
                    lo = block[j] + 1
                hi = j if j == last_day else j - m1
                if hi < 0 and lo == 0:
                    hi = 0
                end, at = NEG, -1
                tail = lam * (j + 1) - mu * first[j + 1]
                for i in range(lo, hi + 1):
                    v = starts[i] + runs[i][j - i] - lam * i + mu * first[i]
                    if v > end:
                        end, at = v, i
                end += tail - half_end[j]
                if end > run_max:
                    run_max, run_at = end, j
                best_start[j] = at
            best_end[j] = run_max
            best_at[j] = run_at
        work = [False] * n_days
        j = run_at if run_max > 0.0 else -1
        while j >= 0:
            i = best_start[j]
            for d in range(i, j + 1):
                work[d] = True
            t = i - gap
            j = best_at[t] if t >= 0 and best_end[t] > 0.0 else -1
        return work


def search_count(
    dp: PatternDP, lo: int, hi: int, lam: float, top: float, budget: int, mu: float = 0.0
) -> tuple[list[bool], float]:
    """Bisect the bonus per day until the worked-day count is within [lo, hi].

    `top` bounds |lam| (beyond it every day's sign is fixed). Returns the pattern found and
    its lam; when the budget runs out or the range cannot be met, the closest one."""

    def miss(c: int) -> int:
        return lo - c if c < lo else c - hi if c > hi else 0

    lam = max(-top, min(top, lam))
    work = dp.solve(lam, mu)
    count = sum(work)
    budget -= 1
    best = (miss(count), work, lam)
    if not best[0]:
        return work, lam
    too_few = count < lo
    low = lam if too_few else None  # a lam that gives too few days ...
    high = None if too_few else lam  # ... and one that gives too many
    step = 2.0
    while budget > 0:
        if low is not None and high is not None:
            cand = (low + high) / 2
        elif low is not None:
            if low >= top:
                break
            cand, step = min(top, low + step), step * 4.0
        else:
            if high <= -top:  # type: ignore[operator]
                break
            cand, step = max(-top, high - step), step * 4.0  # type: ignore[operator]
        work = dp.solve(cand, mu)
        count = sum(work)
        budget -= 1
        m = miss(count)
        if m < best[0]:
            best = (m, work, cand)
            if not m:
                break
        if count < lo:
            low = cand
        else:
            high = cand
    return best[1], best[2]


def worked_weekends(weekends: tuple[tuple[int, ...], ...], work: list[bool]) -> list[int]:
    return [w for w, days in enumerate(weekends) if any(work[d] for d in days)]


def skeleton_weekends(
    values: list[float | None],
    min_run: int,
    max_run: int,
    min_off: int,
    weekends: tuple[tuple[int, ...], ...],
    limit: int,
    rng: random.Random,
) -> list[int]:
    """The weekends of a pattern that works nearly as many days as the rules allow within
    `limit` weekends, preferring the days of most value. Keeping them open keeps the
    minimum minutes reachable.

    Each day is worth 1 plus a little for its value (scaled so that all of it together
    does not outweigh a day or two) and a little noise; a price per worked weekend is
    bisected. Without the small parts, the many equally long patterns make the weekend
    count jump from too many to far too few as the price rises.
    """
    scale = max((abs(v) for v in values if v is not None), default=0.0) or 1.0
    n_free = sum(v is not None for v in values) or 1
    tilt = SKELETON_TILT / n_free / scale
    days = [None if v is None else 1.0 + tilt * v + rng.random() * SKELETON_NOISE for v in values]
    dp = PatternDP(days, min_run, max_run, min_off, weekends)
    best = dp.solve(0.0, 0.0)
    if len(worked_weekends(weekends, best)) <= limit:
        return worked_weekends(weekends, best)
    low, high = 0.0, SKELETON_FIRST_PRICE
    while len(worked_weekends(weekends, best := dp.solve(0.0, high))) > limit:
        low, high = high, high * 4.0
        if high > len(values) + 1:
            return []
    for _ in range(SKELETON_STEPS):
        mu = (low + high) / 2
        work = dp.solve(0.0, mu)
        if len(worked_weekends(weekends, work)) <= limit:
            best, high = work, mu
        else:
            low = mu
    return worked_weekends(weekends, best)
