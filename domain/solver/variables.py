"""Decision variables of the CP-SAT roster model, in one container (STYLE.md 7).

`x(e, d, s)` is 1 when employee e works shift s on day d, `work(e, d)` when e works any shift.
Both return either a CP-SAT literal or a plain int constant, so every constraint family can be
written once and serve two models:

* the full model: every (e, d) inside the horizon is free (days off and `max_shifts = 0` are
  constant 0, which also keeps them out of the model);
* a window model for large-neighbourhood search: only days in `[lo, hi)` (of the free
  employees) are free and the rest of the roster is the constant incumbent, so the same rules
  see the context around the window (runs that cross its edges, totals over the whole
  horizon).

Only the free cells are stored: a window model of a long horizon (Curtois Instance22: 50
employees x 364 days x 10 shifts) costs time in proportion to its window, not to the
horizon, which is what lets the search try several windows a second. Rules therefore loop
over `employees()` and the days near the window, and read every other cell as a constant.
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
        self._employees = sorted(
            self.free_employees if self.free_employees is not None else range(inst.n_employees)
        )
        n_s = inst.n_shifts
        # Shifts worked on the fixed (non-free) days, per free employee and type: rules that
        # sum over the whole horizon take these as one constant instead of thousands of zeros.
        self.fixed_count: dict[int, list[int]] = {}
        self._x: dict[tuple[int, int], list[Term]] = {}
        self._work: dict[tuple[int, int], Term] = {}
        self._fixed_staff: dict[int, list[int]] = {}
        for e in self._employees:
            counts = [0] * n_s
            if context is not None:
                for d, s in enumerate(context[e]):
                    if s != OFF and not self.lo <= d < self.hi:
                        counts[s] += 1
            self.fixed_count[e] = counts
            for d in range(self.lo, self.hi):
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
                self._x[e, d] = row
                self._work[e, d] = w

    def _is_free(self, e: int, d: int) -> bool:
        return (e, d) in self._x

    # Accessors -----------------------------------------------------------------------------
    def x(self, e: int, d: int, s: int) -> Term:
        row = self._x.get((e, d))
        if row is not None:
            return row[s]
        return 1 if self._fixed(e, d) == s else 0

    def work(self, e: int, d: int) -> Term:
        w = self._work.get((e, d))
        if w is not None:
            return w
        return 0 if self._fixed(e, d) == OFF else 1

    def shifts_on(self, e: int, d: int) -> Sequence[Term]:
        row = self._x.get((e, d))
        if row is not None:
            return row
        fixed = self._fixed(e, d)
        return [1 if s == fixed else 0 for s in range(self.inst.n_shifts)]

    def _fixed(self, e: int, d: int) -> int:
        return self.context[e][d] if self.context is not None else OFF

    def employees(self) -> Sequence[int]:
        """The employees with variables; the others are constants no rule needs to see."""
        return self._employees

    def fixed_staff(self, d: int, s: int) -> int:
        """How many employees held fixed work shift s on free day d."""
        if self.context is None or self.free_employees is None:
            return 0
        counts = self._fixed_staff.get(d)
        if counts is None:
            counts = [0] * (self.inst.n_shifts + 1)  # the last slot counts days off
            for e, row in enumerate(self.context):
                if e not in self.free_employees:
                    counts[row[d]] += 1
            self._fixed_staff[d] = counts
        return counts[s]

    def free_days(self) -> range:
        return range(self.lo, self.hi)

    def free_days_of(self, e: int) -> range:
        """The days on which employee e has variables (empty if e is held fixed)."""
        free = self.free_employees is None or e in self.free_employees
        return range(self.lo, self.hi) if free else range(0)

    # Solutions -------------------------------------------------------------------------------
    def literals(self) -> Iterable[tuple[int, int, int, cp_model.IntVar]]:
        for (e, d), row in self._x.items():
            for s, v in enumerate(row):
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
        for (e, d), row in self._x.items():
            roster[e][d] = next(
                (s for s, v in enumerate(row) if not is_constant(v) and value_of(v)), OFF
            )
        return roster
