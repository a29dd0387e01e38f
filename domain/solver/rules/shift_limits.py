"""Hard rule 4: employee e works shift type s on at most max_shifts[e][s] days.

A limit of 0 never reaches this module: `RosterVars` creates no variable for it at all.
"""

from __future__ import annotations

from ortools.sat.python import cp_model

from domain.solver.rules import Penalty, require_constant
from domain.solver.variables import RosterVars


def add(v: RosterVars) -> list[Penalty]:
    inst = v.inst
    for e in v.employees():
        for s in range(inst.n_shifts):
            limit = inst.max_shifts[e][s]
            if limit is None or limit >= inst.days:
                continue  # FORMAT.md: values >= H have no effect
            free = [x for d in v.free_days_of(e) if not isinstance(x := v.x(e, d, s), int)]
            fixed = v.fixed_count[e][s]
            if free:
                v.model.add(cp_model.LinearExpr.sum(free) <= limit - fixed)
            else:
                require_constant(v, fixed <= limit)
    return []
