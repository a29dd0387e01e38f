"""Hard rule 9: at most MaxWeekends calendar weekends worked (Saturday or Sunday or both)."""

from __future__ import annotations

from domain.solver.rules import Penalty, all_constant
from domain.solver.variables import RosterVars


def add(v: RosterVars) -> list[Penalty]:
    inst = v.inst
    for e in v.employees():
        limit = inst.max_weekends[e]
        if limit is None or limit >= len(inst.weekends):
            continue
        worked = []
        for w, days in enumerate(inst.weekends):
            terms = [v.work(e, d) for d in days]
            if all_constant(terms):
                worked.append(max(terms))
                continue
            flag = v.model.new_bool_var(f"weekend[{e},{w}]")
            for t in terms:
                v.model.add(flag >= t)
            worked.append(flag)
        if not all_constant(worked):
            v.model.add(sum(worked) <= limit)
    return []
