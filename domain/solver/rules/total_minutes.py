"""Hard rule 5: MinTotalMinutes <= minutes worked <= MaxTotalMinutes (both hard)."""

from __future__ import annotations

from domain.solver.rules import Penalty, all_constant, require_constant
from domain.solver.variables import RosterVars


def add(v: RosterVars) -> list[Penalty]:
    inst = v.inst
    for e in range(inst.n_employees):
        lo, hi = inst.min_minutes[e], inst.max_minutes[e]
        if lo is None and hi is None:
            continue
        terms = [
            (inst.duration[s], v.x(e, d, s)) for d in range(inst.days) for s in range(inst.n_shifts)
        ]
        minutes = sum(coef * t for coef, t in terms)
        if all_constant(t for _, t in terms):
            # e.g. every day is a day off: a minimum above 0 can never be reached
            require_constant(v, (lo or 0) <= minutes <= (hi if hi is not None else minutes))
            continue
        if lo is not None and lo > 0:
            v.model.add(minutes >= lo)
        if hi is not None:
            v.model.add(minutes <= hi)
    return []
