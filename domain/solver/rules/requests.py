"""Soft: shift-on requests (violated if off or on another shift) and shift-off requests."""

from __future__ import annotations

from domain.solver.instance import OFF
from domain.solver.rules import Penalty
from domain.solver.variables import RosterVars


def add(v: RosterVars) -> list[Penalty]:
    inst = v.inst
    on_terms, off_terms = [], []
    # Days outside a window model are constants: leaving them out shifts the objective by a
    # constant, so the window model minimises the cost of its own days (see lns.py).
    for e in v.employees():
        for d in v.free_days():
            on_row, off_row = inst.on_weight[e][d], inst.off_weight[e][d]
            for s in range(inst.n_shifts):
                if on_row[s]:
                    on_terms.append(on_row[s] * (1 - v.x(e, d, s)))
                if off_row[s]:
                    off_terms.append(off_row[s] * v.x(e, d, s))
    # Employees held fixed keep their requests on the free days: a constant, but part of the
    # window's cost, which the search compares with the incumbent's (`roster_cost`).
    if v.free_employees is not None:
        for e in range(inst.n_employees):
            if e in v.free_employees:
                continue
            for d in v.free_days():
                s = v.context[e][d]
                on_row, off_row = inst.on_weight[e][d], inst.off_weight[e][d]
                on_terms.append(sum(on_row) - (on_row[s] if s != OFF else 0))
                off_terms.append(off_row[s] if s != OFF else 0)
    return [Penalty("requests_on", sum(on_terms)), Penalty("requests_off", sum(off_terms))]
