"""Soft: cover demand, per (day, shift) line: under_weight per missing person and
over_weight per extra person (even when the requirement is 0). Pairs without a line cost
nothing (FORMAT.md 5).

`n - req = over - under` with both slacks >= 0: minimisation makes them the exact shortfall
and excess, since every weight is positive.
"""

from __future__ import annotations

from domain.solver.rules import Penalty
from domain.solver.variables import RosterVars, is_constant


def add(v: RosterVars) -> list[Penalty]:
    inst = v.inst
    n_e = inst.n_employees
    under_terms, over_terms = [], []
    for d in v.free_days():  # days outside a window model are constants (see requests.py)
        for s in range(inst.n_shifts):
            line = inst.cover[d][s]
            if line is None:
                continue
            req, w_under, w_over = line
            fixed = v.fixed_staff(d, s)
            staff = [x for e in v.employees() if not is_constant(x := v.x(e, d, s))]
            if not staff:
                n = fixed + sum(v.x(e, d, s) for e in v.employees())
                under_terms.append(w_under * max(0, req - n))
                over_terms.append(w_over * max(0, n - req))
                continue
            under = v.model.new_int_var(0, max(req, 0), f"under[{d},{s}]")
            over = v.model.new_int_var(0, n_e, f"over[{d},{s}]")
            v.model.add(sum(staff) + fixed - req == over - under)
            under_terms.append(w_under * under)
            over_terms.append(w_over * over)
    return [Penalty("cover_under", sum(under_terms)), Penalty("cover_over", sum(over_terms))]
