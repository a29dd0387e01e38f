"""Hard rule 4: employee e works shift type s on at most max_shifts[e][s] days.

A limit of 0 never reaches this module: `RosterVars` creates no variable for it at all.
"""

from __future__ import annotations

from domain.solver.rules import Penalty, all_constant
from domain.solver.variables import RosterVars


def add(v: RosterVars) -> list[Penalty]:
    inst = v.inst
    for e in range(inst.n_employees):
        for s in range(inst.n_shifts):
            limit = inst.max_shifts[e][s]
            if limit is None or limit >= inst.days:
                continue  # FORMAT.md: values >= H have no effect
            terms = [v.x(e, d, s) for d in range(inst.days)]
            if not all_constant(terms):
                v.model.add(sum(terms) <= limit)
    return []
