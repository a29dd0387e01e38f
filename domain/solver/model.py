"""The CP-SAT roster model: the decision variables plus every constraint family.

The same class builds the full model and the window/employee-subset models used by the
large-neighbourhood search (`lns.py`): the families only ever talk to `RosterVars`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ortools.sat.python import cp_model

from domain.solver.instance import Instance, Roster
from domain.solver.rules import (
    Penalty,
    consecutive,
    cover,
    days_off,
    requests,
    rotation,
    shift_limits,
    total_minutes,
    weekends,
)
from domain.solver.variables import RosterVars

# Hard rule 1 (one shift per day) and 2 (fixed days off) live in RosterVars itself.
FAMILIES = (rotation, shift_limits, total_minutes, consecutive, days_off, weekends, requests, cover)


class RosterModel:
    def __init__(
        self,
        inst: Instance,
        *,
        window: tuple[int, int] | None = None,
        context: Roster | None = None,
        free_employees: Iterable[int] | None = None,
    ) -> None:
        self.inst = inst
        self.model = cp_model.CpModel()
        self.vars = RosterVars(
            self.model, inst, window=window, context=context, free_employees=free_employees
        )
        self.penalties: list[Penalty] = [p for fam in FAMILIES for p in fam.add(self.vars)]
        self.objective = sum(p.expr for p in self.penalties)
        self.model.minimize(self.objective)

    def penalty_values(self, value_of) -> dict[str, int]:
        return {p.name: int(value_of(p.expr)) for p in self.penalties}
