"""The objective of a roster in index form, for the solver's own bookkeeping.

The published figures always come from the independent evaluator (`evaluator.py`); this fast
version only lets the search compare rosters, and is cross-checked against the evaluator in
the tests.
"""

from __future__ import annotations

from domain.solver.instance import OFF, Instance, Roster


def roster_cost(inst: Instance, roster: Roster, days: range | None = None) -> int:
    """Requests + cover penalties of `roster`, over `days` (default: the whole horizon)."""
    days = days if days is not None else range(inst.days)
    total = 0
    n_s = inst.n_shifts
    for d in days:
        staffed = [0] * n_s
        for e in range(inst.n_employees):
            s = roster[e][d]
            on, off = inst.on_weight[e][d], inst.off_weight[e][d]
            total += sum(on) - (on[s] if s != OFF else 0)
            if s != OFF:
                total += off[s]
                staffed[s] += 1
        for s, line in enumerate(inst.cover[d]):
            if line is not None:
                req, w_under, w_over = line
                n = staffed[s]
                total += w_under * max(0, req - n) + w_over * max(0, n - req)
    return total
