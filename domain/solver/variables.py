"""Decision variables of the CP-SAT roster model, in one container (STYLE.md 7).

`x(e, d, s)` is 1 when employee e works shift s on day d, `work(e, d)` when e works any shift.
Both return either a CP-SAT literal or a plain int constant, so every constraint family can be
written once and serve two models:

* the full model: every (e, d) inside the horizon is free (days off and `max_shifts = 0` are
  constant 0, which also keeps them out of the model);
* a window model for large-neighbourhood search: only days in `[lo, hi)` are free and the
  rest of the roster is the constant incumbent, so the same rules see the context around the
  window (runs that cross its edges, totals over the whole horizon).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from ortools.sat.python import cp_model

from domain.solver.instance import OFF, Instance, Roster

Term = cp_model.IntVar | int


def is_constant(value: object) -> bool:
    return isinstance(value, int)


class RosterVars:
    def __init__(
        self,
        model: cp_model.CpModel,
        inst: Instance,
        *,
        window: tuple[int, int] | None = None,
        context: Roster | None = None,
        free_employees: Iterable[int] | None = None,
    ) -> None:
        self.model = model
        self.inst = inst
        self.lo, self.hi = window if window is not None else (0, inst.days)
        if (window is not None or free_employees is not None) and context is None:
            raise ValueError("a window or employee subset needs the incumbent roster as context")
        self.context = context
        self.free_employees = frozenset(free_employees) if free_employees is not None else None
        n_s = inst.n_shifts
        # Shifts worked on the fixed (non-free) days, per employee and type: rules that sum
        # over the whole horizon take these as one constant instead of thousands of zeros.
        self.fixed_count = [[0] * n_s for _ in range(inst.n_employees)]
        self._x: list[list[list[Term]]] = []
        self._work: list[list[Term]] = []
        for e in range(inst.n_employees):
            xe: list[list[Term]] = []
            we: list[Term] = []
            for d in range(inst.days):
                if not self._is_free(e, d):
                    s_fixed = context[e][d] if context is not None else OFF
                    xe.append([1 if s == s_fixed else 0 for s in range(n_s)])
                    we.append(0 if s_fixed == OFF else 1)
                    if s_fixed != OFF:
                        self.fixed_count[e][s_fixed] += 1
                    continue
                row: list[Term] = [
                    model.new_bool_var(f"x[{e},{d},{s}]") if inst.may_work(e, d, s) else 0
                    for s in range(n_s)
                ]
                literals = [v for v in row if not is_constant(v)]
                if not literals:
                    w: Term = 0
                elif len(literals) == 1:
                    w = literals[0]
                else:
                    w = model.new_bool_var(f"work[{e},{d}]")
                    # One shift per day (hard rule 1) is this equality: work is 0 or 1.
                    model.add(sum(literals) == w)
                xe.append(row)
                we.append(w)
            self._x.append(xe)
            self._work.append(we)

    def _is_free(self, e: int, d: int) -> bool:
        if not self.lo <= d < self.hi:
            return False
        return self.free_employees is None or e in self.free_employees

    # Accessors -----------------------------------------------------------------------------
    def x(self, e: int, d: int, s: int) -> Term:
        return self._x[e][d][s]

    def work(self, e: int, d: int) -> Term:
        return self._work[e][d]

    def shifts_on(self, e: int, d: int) -> Sequence[Term]:
        return self._x[e][d]

    def free_days(self) -> range:
        return range(self.lo, self.hi)

    def free_days_of(self, e: int) -> range:
        """The days on which employee e has variables (empty if e is held fixed)."""
        free = self.free_employees is None or e in self.free_employees
        return range(self.lo, self.hi) if free else range(0)

    # Solutions -------------------------------------------------------------------------------
    def literals(self) -> Iterable[tuple[int, int, int, cp_model.IntVar]]:
        for e, xe in enumerate(self._x):
            for d in range(self.lo, self.hi):
                for s, v in enumerate(xe[d]):
                    if not is_constant(v):
                        yield e, d, s, v

    def add_hint(self, roster: Roster) -> None:
        for e, d, s, v in self.literals():
            self.model.add_hint(v, roster[e][d] == s)

    def extract(self, value_of: Callable[[cp_model.IntVar], int]) -> Roster:
        """The roster of a solution; `value_of` maps a literal to its 0/1 value."""
        inst = self.inst
        roster = [
            [OFF] * inst.days if self.context is None else list(self.context[e])
            for e in range(inst.n_employees)
        ]
        for e, xe in enumerate(self._x):
            for d in range(self.lo, self.hi):
                if self._is_free(e, d):
                    roster[e][d] = next(
                        (s for s, v in enumerate(xe[d]) if not is_constant(v) and value_of(v)),
                        OFF,
                    )
        return roster
