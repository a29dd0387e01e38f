"""The heuristic's working roster: counts kept in step with it, delta costs, local rule checks.

Every hard rule of FORMAT.md section 4 is per employee, so a change to one employee's day is
checked only around that day: the shift rotation against the two neighbours, the runs that
touch it (with the exemptions at the horizon's ends), and the running totals (minutes, shifts
per type, weekends). The objective (FORMAT.md section 5) only links employees through the
staffing count n(d, s), so a change costs O(1) to price.
"""

from __future__ import annotations

from domain.solver.instance import OFF, Instance, Roster

UNLIMITED = 1 << 40


class RosterState:
    """A complete roster plus every count the delta costs and the rule checks need."""

    def __init__(self, inst: Instance) -> None:
        n_days, n_s, n_e = inst.days, inst.n_shifts, inst.n_employees
        self.inst = inst
        self.days = n_days
        self.n_shifts = n_s
        self.n_employees = n_e
        self.roster: Roster = [[OFF] * n_days for _ in range(n_e)]
        self.staffed = [[0] * n_s for _ in range(n_days)]  # n(d, s)
        # A (day, shift) without a cover line has no demand and costs nothing either way.
        self.req = [[c[0] if c else 0 for c in row] for row in inst.cover]
        self.w_under = [[c[1] if c else 0 for c in row] for row in inst.cover]
        self.w_over = [[c[2] if c else 0 for c in row] for row in inst.cover]
        self.dur = inst.duration
        # follows[a][b]: b may be worked the day after a.
        self.follows = [[b not in inst.forbidden_next[a] for b in range(n_s)] for a in range(n_s)]
        self.cap = [[n_days + 1 if m is None else m for m in row] for row in inst.max_shifts]
        self.allowed = [[s for s in range(n_s) if self.cap[e][s] > 0] for e in range(n_e)]
        self.min_run = [max(1, x or 1) for x in inst.min_consecutive]
        self.max_run = [n_days + 1 if x is None else x for x in inst.max_consecutive]
        self.min_off = [max(1, x or 1) for x in inst.min_days_off]
        self.min_minutes = [x or 0 for x in inst.min_minutes]
        self.max_minutes = [UNLIMITED if x is None else x for x in inst.max_minutes]
        self.max_weekends = [UNLIMITED if x is None else x for x in inst.max_weekends]
        self.weekend_of = [-1] * n_days
        for w, days in enumerate(inst.weekends):
            for d in days:
                self.weekend_of[d] = w
        # The dearest person missing from a weekend shift: what a weekend worked on one day
        # only may waste (heuristic_build.HALF_WEEKEND).
        self.weekend_under = max(
            (w for days in inst.weekends for d in days for w in self.w_under[d]), default=0
        )
        self.price_half_weekends = False  # set by the local search (heuristic.py)
        self.days_off = inst.days_off
        self.on_w = inst.on_weight
        self.off_w = inst.off_weight
        self.has_request = [
            [any(inst.on_weight[e][d]) or any(inst.off_weight[e][d]) for d in range(n_days)]
            for e in range(n_e)
        ]
        self.scarcity = self._scarcity()
        # While rows are being built, the staffing still expected from the unbuilt ones:
        # a shortfall they will likely fill is worth little to the row being built now.
        self.share = self._shares()
        self.expected = [sum(col) for col in zip(*self.share, strict=True)] if n_e else []
        self.built = [False] * n_e
        # Per employee, the weekends a row keeps open first when value alone leaves the
        # minimum minutes out of reach (heuristic_pattern.skeleton_weekends), found once.
        self.skeleton: list[list[int] | None] = [None] * n_e
        self.bounds: list[tuple[int, int] | None] = [None] * n_e  # heuristic_build.bounds
        self.minutes = [0] * n_e
        self.shift_count = [[0] * n_s for _ in range(n_e)]
        self.weekend_days = [[0] * len(inst.weekends) for _ in range(n_e)]
        self.weekends = [0] * n_e

    def _scarcity(self) -> list[float]:
        """Demand of each shift type over what the staff could offer it (each employee's
        days spread evenly over the types they may work), scaled to average 1."""
        n_s = self.n_shifts
        demand = [sum(self.req[d][s] for d in range(self.days)) for s in range(n_s)]
        offer = [0.0] * n_s
        for e, allowed in enumerate(self.allowed):
            for s in allowed:
                offer[s] += min(self.cap[e][s], self.days / len(allowed))
        ratio = [demand[s] / offer[s] if offer[s] else 0.0 for s in range(n_s)]
        mean = sum(ratio) / n_s if n_s else 0.0
        return [r / mean if mean else 0.0 for r in ratio]

    def _shares(self) -> list[list[float]]:
        """share[e][d]: the chance that e works day d, before e's row is built: a share of
        their free days, and on weekends at most max_weekends/weekends."""
        n_days, n_weekends = self.days, len(self.inst.weekends)
        shares = []
        for e in range(self.n_employees):
            free = n_days - len(self.days_off[e])
            if not self.allowed[e] or free <= 0:
                shares.append([0.0] * n_days)
                continue
            minutes = min(self.max_minutes[e], max(self.dur) * n_days)
            share = min(1.0, minutes / min(self.dur[s] for s in self.allowed[e]) / free)
            weekend = min(share, self.max_weekends[e] / n_weekends) if n_weekends else 0.0
            shares.append(
                [
                    0.0 if d in self.days_off[e] else weekend if self.weekend_of[d] >= 0 else share
                    for d in range(n_days)
                ]
            )
        return shares

    def mark_built(self, e: int) -> None:
        """e's row is now real: stop counting it in the expected staffing of the others."""
        if not self.built[e]:
            self.built[e] = True
            for d, x in enumerate(self.share[e]):
                self.expected[d] -= x

    # ------------------------------------------------------------------ mutation

    def set(self, e: int, d: int, b: int) -> None:
        """Give employee e shift b (or OFF) on day d, keeping every count in step."""
        row = self.roster[e]
        a = row[d]
        if a == b:
            return
        row[d] = b
        if a >= 0:
            self.staffed[d][a] -= 1
            self.minutes[e] -= self.dur[a]
            self.shift_count[e][a] -= 1
        if b >= 0:
            self.staffed[d][b] += 1
            self.minutes[e] += self.dur[b]
            self.shift_count[e][b] += 1
        w = self.weekend_of[d]
        if w >= 0 and (a < 0) != (b < 0):
            wd = self.weekend_days[e]
            if b >= 0:
                wd[w] += 1
                if wd[w] == 1:
                    self.weekends[e] += 1
            else:
                wd[w] -= 1
                if wd[w] == 0:
                    self.weekends[e] -= 1

    def set_row(self, e: int, row: list[int], lo: int = 0, hi: int | None = None) -> None:
        """Copy days lo..hi (default: all) of `row` into employee e's row."""
        for d in range(lo, self.days if hi is None else hi + 1):
            self.set(e, d, row[d])

    # ------------------------------------------------------------------ pricing

    def delta(self, e: int, d: int, b: int) -> int:
        """Change of the objective if employee e worked b (or OFF) on day d instead."""
        a = self.roster[e][d]
        if a == b:
            return 0
        cnt = self.staffed[d]
        dl = 0
        if a >= 0:
            dl += self.on_w[e][d][a] - self.off_w[e][d][a]
            dl += self.w_under[d][a] if cnt[a] <= self.req[d][a] else -self.w_over[d][a]
        if b >= 0:
            dl += self.off_w[e][d][b] - self.on_w[e][d][b]
            dl += -self.w_under[d][b] if cnt[b] < self.req[d][b] else self.w_over[d][b]
        return dl

    def row_delta(self, e: int, row: list[int], lo: int = 0, hi: int | None = None) -> int:
        """Change of the objective if days lo..hi (default: all) of employee e's row were
        those of `row`."""
        old, delta = self.roster[e], self.delta
        days = range(lo, self.days if hi is None else hi + 1)
        return sum(delta(e, d, row[d]) for d in days if old[d] != row[d])

    def total_cost(self) -> int:
        """The objective of the current roster (FORMAT.md section 5), from scratch."""
        total = 0
        for e, row in enumerate(self.roster):
            on_w, off_w = self.on_w[e], self.off_w[e]
            for d, x in enumerate(row):
                total += sum(on_w[d])
                if x >= 0:
                    total += off_w[d][x] - on_w[d][x]
        for d, cnt in enumerate(self.staffed):
            for s, n in enumerate(cnt):
                req = self.req[d][s]
                total += (
                    self.w_under[d][s] * (req - n) if n < req else self.w_over[d][s] * (n - req)
                )
        return total

    def request_cost(self, e: int, d: int, x: int) -> int:
        """Request penalty of (e, d) when working x, less the constant sum of on-weights."""
        return 0 if x < 0 else self.off_w[e][d][x] - self.on_w[e][d][x]

    # ------------------------------------------------------------------ hard rules

    def can_set(self, e: int, d: int, b: int) -> bool:
        """True if setting (e, d) to b keeps every hard rule that holds now (totals that are
        already out of range may move, but only towards their range)."""
        row = self.roster[e]
        a = row[d]
        if a == b:
            return True
        if b >= 0:
            if d in self.days_off[e]:
                return False
            if self.shift_count[e][b] >= self.cap[e][b]:
                return False
            if d > 0 and row[d - 1] >= 0 and not self.follows[row[d - 1]][b]:
                return False
            if d + 1 < self.days and row[d + 1] >= 0 and not self.follows[b][row[d + 1]]:
                return False
        old = self.minutes[e]
        new = old - (self.dur[a] if a >= 0 else 0) + (self.dur[b] if b >= 0 else 0)
        if new < self.min_minutes[e] and new < old:
            return False
        if new > self.max_minutes[e] and new > old:
            return False
        if (a < 0) == (b < 0):
            return True
        w = self.weekend_of[d]
        if (
            b >= 0
            and w >= 0
            and self.weekend_days[e][w] == 0
            and self.weekends[e] >= self.max_weekends[e]
        ):
            return False
        row[d] = b
        ok = runs_ok(row, d, d, self.min_run[e], self.max_run[e], self.min_off[e])
        row[d] = a
        return ok

    def row_violations(self, e: int, row: list[int]) -> int:
        """How many hard rules `row` breaks for employee e (0 = feasible)."""
        n_days = self.days
        bad = 0
        counts = [0] * self.n_shifts
        minutes = 0
        worked_weekends = set()
        off = self.days_off[e]
        for d, s in enumerate(row):
            if s < 0:
                continue
            counts[s] += 1
            minutes += self.dur[s]
            if d in off:
                bad += 1
            if d + 1 < n_days and row[d + 1] >= 0 and not self.follows[s][row[d + 1]]:
                bad += 1
            if self.weekend_of[d] >= 0:
                worked_weekends.add(self.weekend_of[d])
        bad += sum(1 for s, c in enumerate(counts) if c > self.cap[e][s])
        bad += minutes < self.min_minutes[e]
        bad += minutes > self.max_minutes[e]
        bad += len(worked_weekends) > self.max_weekends[e]
        bad += run_violations(row, self.min_run[e], self.max_run[e], self.min_off[e])
        return bad


def run_violations(row: list[int], min_run: int, max_run: int, min_off: int) -> int:
    """Broken run rules (FORMAT.md 4.6-4.8) over the whole row."""
    n_days = len(row)
    bad = 0
    i = 0
    while i < n_days:
        working = row[i] >= 0
        j = i
        while j + 1 < n_days and (row[j + 1] >= 0) == working:
            j += 1
        length = j - i + 1
        inside = i > 0 and j < n_days - 1
        if working:
            bad += length > max_run
            bad += inside and length < min_run
        else:
            bad += inside and length < min_off
        i = j + 1
    return bad


def runs_ok(row: list[int], lo: int, hi: int, min_run: int, max_run: int, min_off: int) -> bool:
    """True if every maximal run that touches days lo-1..hi+1 obeys the run rules.

    Runs that start on day 0 or end on the last day are exempt from the minimum lengths,
    and max_run counts only days inside the horizon (FORMAT.md 4.6-4.8).
    """
    last = len(row) - 1
    left = max(lo - 1, 0)
    w = row[left] >= 0
    while left > 0 and (row[left - 1] >= 0) == w:
        left -= 1
    right = min(hi + 1, last)
    w = row[right] >= 0
    while right < last and (row[right + 1] >= 0) == w:
        right += 1
    i = left
    while i <= right:
        working = row[i] >= 0
        j = i
        while j < right and (row[j + 1] >= 0) == working:
            j += 1
        length = j - i + 1
        if working:
            if length > max_run:
                return False
            if length < min_run and i > 0 and j < last:
                return False
        elif length < min_off and i > 0 and j < last:
            return False
        i = j + 1
    return True
