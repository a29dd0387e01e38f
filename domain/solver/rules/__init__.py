"""Constraint families of the CP-SAT model, one module each (STYLE.md 6).

Every module exposes `add(v: RosterVars) -> list[Penalty]`: hard rules add constraints and
return no penalty; soft rules return named penalty expressions that the model minimises and
that a solution can report family by family.
"""

from __future__ import annotations

from dataclasses import dataclass

from ortools.sat.python import cp_model

from domain.solver.variables import is_constant


@dataclass(frozen=True, slots=True)
class Penalty:
    name: str  # "requests_on" | "requests_off" | "cover_under" | "cover_over"
    expr: cp_model.LinearExprT


def all_constant(terms) -> bool:
    return all(is_constant(t) for t in terms)


def require_constant(v, holds: bool) -> None:
    """A rule whose terms are all constants: if it is broken, the full model is infeasible.

    In a window model the constants are the incumbent's own days outside the window, which
    that window cannot change: they are left alone rather than made to block every repair.
    """
    if not holds and v.context is None:
        v.model.add_bool_or([False])
