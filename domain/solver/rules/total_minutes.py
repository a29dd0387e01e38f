"""Hard rule 5: MinTotalMinutes <= minutes worked <= MaxTotalMinutes (both hard)."""

from __future__ import annotations

from ortools.sat.python import cp_model

from domain.solver.rules import Penalty, require_constant
from domain.solver.variables import RosterVars


def add(v: RosterVars) -> list[Penalty]:
    inst = v.inst
    for e in v.employees():
        lo, hi = inst.min_minutes[e], inst.max_minutes[e]
        if lo is None and hi is None:
            continue
        dur = inst.duration
        fixed = sum(dur[s] * n for s, n in enumerate(v.fixed_count[e]))
        free = [
            (x, dur[s])
            for d in v.free_days_of(e)
            for s, x in enumerate(v.shifts_on(e, d))
            if not isinstance(x, int)
        ]
        if not free:
            # e.g. every day is a day off: a minimum above 0 can never be reached
            require_constant(v, (lo or 0) <= fixed <= (hi if hi is not None else fixed))
            continue
        minutes = cp_model.LinearExpr.weighted_sum([x for x, _ in free], [c for _, c in free])
        if lo is not None and lo > fixed:
            v.model.add(minutes >= lo - fixed)
        if hi is not None:
            v.model.add(minutes <= hi - fixed)
    return []
