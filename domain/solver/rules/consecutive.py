"""Hard rules 6 and 7: maximal and minimal runs of consecutive working days.

Max (6): every window of K+1 consecutive days inside the horizon holds at most K working days;
the days just outside the horizon count as off, so windows never reach past its ends.

Min (7): a run that starts at t >= 1 (off on t-1, work on t) must go on for k days, or until the
horizon's last day, whichever comes first: runs touching day 0 or day H-1 are exempt
(FORMAT.md 4.7). Written as `work[t] - work[t-1] <= work[j]` for j in the run: the "start"
form has a tighter LP relaxation than forbidding each short pattern with one clause.
"""

from __future__ import annotations

from domain.solver.rules import Penalty, all_constant
from domain.solver.variables import RosterVars


def add(v: RosterVars) -> list[Penalty]:
    inst = v.inst
    for e in v.employees():
        k_max = inst.max_consecutive[e]
        if k_max is not None and k_max < inst.days:
            for t in range(max(v.lo - k_max, 0), min(v.hi, inst.days - k_max)):
                window = [v.work(e, d) for d in range(t, t + k_max + 1)]
                if not all_constant(window):
                    v.model.add(sum(window) <= k_max)
        k_min = inst.min_consecutive[e]
        if k_min is not None and k_min > 1:
            add_min_runs(v, e, k_min, working=True)
    return []


def add_min_runs(v: RosterVars, e: int, k: int, *, working: bool) -> None:
    """Runs of `working` days (or of days off) starting inside the horizon last >= k days.

    Shared by rule 7 (runs of work) and rule 8 (runs of days off), which differ only in
    which value the run holds. Only runs that can touch the free days are written.
    """
    days = v.inst.days
    lo, hi = max(v.lo - k + 1, 1), min(v.hi + 1, days)
    work = {d: v.work(e, d) for d in range(lo - 1, min(hi + k, days))}
    for t in range(lo, hi):
        last = min(t + k - 1, days - 1)
        for j in range(t + 1, last + 1):
            terms = (work[t], work[t - 1], work[j])
            if all_constant(terms):
                continue
            if working:  # a run of work starts at t, so j works too
                v.model.add(work[t] - work[t - 1] - work[j] <= 0)
            else:  # a run of days off starts at t, so j is off too
                v.model.add(work[t - 1] - work[t] + work[j] <= 1)
