"""Hard rule 3: shift a on day d forbids every b in forbidden_next(a) on day d+1.

Written as one clique per (e, d, a), `x[d,a] + sum_b x[d+1,b] <= 1`, instead of one pair per
(a, b): the shifts of day d+1 are mutually exclusive anyway, so the clique is valid and gives a
tighter LP relaxation. No rule links day 0 to the day before the horizon (FORMAT.md 4.3).
"""

from __future__ import annotations

from domain.solver.rules import Penalty, all_constant
from domain.solver.variables import RosterVars


def add(v: RosterVars) -> list[Penalty]:
    inst = v.inst
    for e in v.employees():
        for d in range(max(v.lo - 1, 0), min(v.hi, inst.days - 1)):
            today, tomorrow = v.shifts_on(e, d), v.shifts_on(e, d + 1)
            for a, banned in enumerate(inst.forbidden_next):
                if not banned or (isinstance(today[a], int) and today[a] == 0):
                    continue
                terms = [today[a], *(tomorrow[b] for b in banned)]
                if not all_constant(terms):
                    v.model.add(sum(terms) <= 1)
    return []
