"""Hard rules 2 and 8: fixed days off, and minimal runs of consecutive days off.

Rule 2 is enforced by `RosterVars`, which creates no variable on a day off. Rule 8: a run of
days off that starts at t >= 1 (work on t-1) lasts at least k days or reaches the horizon's
end; runs at either end of the horizon are exempt (FORMAT.md 4.8).
"""

from __future__ import annotations

from domain.solver.rules import Penalty
from domain.solver.rules.consecutive import add_min_runs
from domain.solver.variables import RosterVars


def add(v: RosterVars) -> list[Penalty]:
    inst = v.inst
    for e in v.employees():
        k = inst.min_days_off[e]
        if k is not None and k > 1:
            add_min_runs(v, e, k, working=False)
    return []
