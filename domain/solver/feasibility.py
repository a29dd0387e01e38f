"""Does a roster in index form break any hard rule? (The solver's own quick check.)

Reuses the heuristic's per-row rule counter; the published verdict always comes from the
independent evaluator.
"""

from __future__ import annotations

from domain.solver.heuristic_state import RosterState
from domain.solver.instance import Instance, Roster


def is_feasible(inst: Instance, roster: Roster) -> bool:
    state = RosterState(inst)
    return all(state.row_violations(e, row) == 0 for e, row in enumerate(roster))
