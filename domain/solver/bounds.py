"""A lower bound on the objective from counting alone, for where CP-SAT proves little.

CP-SAT's own bound comes from the LP relaxation of the full model, and on the larger
instances it has hardly started when the full model's share of the time ends (Curtois
Instance18: 20 after 4 s, Instance10: 9, Instance11: 1), or it is never built at all
(Instance20 and 22 go straight to the windows). Yet on most of the benchmark cover cannot
be met for a plain reason: there are more shifts to staff than anybody may work, above all
on weekends, where every employee may work only `max_weekends` of them. Counting that gives
a bound no search has to prove (Instance18: 41 weekend shifts short, so at least 4100).

Each day an employee works staffs exactly one (day, shift), so the people who may work on a
set of days staff at most that many demanded places there, and every demanded place left
unstaffed costs at least the smallest under-cover weight among them. Three counts are made,
and the largest is the bound (one may not add them: the weekend's shortfall is part of the
whole horizon's, and so are the types'):

* the weekend days: an employee works at most the workable days of their `max_weekends`
  best weekends (a weekend counts as worked if any of its days is, FORMAT.md 4.9);
* every day: at most their workable days, and at most as many shifts as their maximum
  total minutes allow at the shortest shift they may work;
* each shift type on its own: at most `max_shifts` of it per employee (FORMAT.md 4.4), and
  no more than the days they may work it where it is demanded. The types' shortfalls add
  up, each at its own weight, since a place has one type (Instance8 and 14: 86 and 103
  night places against 74 and 91 that the caps allow, so 12 holes are forced in each).
  Solving one LP over all three (employees' days split between weekend and weekday, by
  type, under every limit at once) gave no more on any Curtois instance.
"""

from __future__ import annotations

from collections.abc import Iterable

from domain.solver.instance import Instance


def cover_lower_bound(inst: Instance) -> int:
    """A lower bound on any roster's objective: the under-cover that counting forces."""
    on_weekends = _shortfall(inst, _weekend_days(inst), _weekend_capacity(inst))
    everywhere = _shortfall(inst, range(inst.days), _horizon_capacity(inst))
    by_type = sum(
        _shortfall(inst, range(inst.days), capacity, (s,))
        for s, capacity in enumerate(_type_capacity(inst))
    )
    return max(on_weekends, everywhere, by_type)


def type_places_short(inst: Instance) -> list[int]:
    """Per shift type, how many of its demanded places no roster can staff: more than the
    employees' `max_shifts` of it (and the demanded days they may work it) add up to."""
    return [
        max(0, _demand(inst, range(inst.days), (s,))[0] - capacity)
        for s, capacity in enumerate(_type_capacity(inst))
    ]


def weekend_places_short(inst: Instance) -> int:
    """How many demanded weekend places the staff cannot fill even working every weekend
    they may, each whole: 0 where the weekends could be fully staffed."""
    demand, _ = _demand(inst, _weekend_days(inst))
    return max(0, demand - _weekend_capacity(inst))


def _weekend_days(inst: Instance) -> list[int]:
    return [d for days in inst.weekends for d in days]


def _demand(
    inst: Instance, days: Iterable[int], shifts: Iterable[int] | None = None
) -> tuple[int, int | None]:
    """The places demanded on `days` (of `shifts`, default all), and the smallest
    under-cover weight among them."""
    demand, weight = 0, None
    types = range(inst.n_shifts) if shifts is None else tuple(shifts)
    for d in days:
        for s in types:
            line = inst.cover[d][s]
            if line is not None and line[0] > 0:
                demand += line[0]
                weight = line[1] if weight is None else min(weight, line[1])
    return demand, weight


def _shortfall(
    inst: Instance, days: Iterable[int], capacity: int, shifts: Iterable[int] | None = None
) -> int:
    """The least under-cover cost on `days` (of `shifts`, default all) when at most
    `capacity` places are staffed."""
    demand, weight = _demand(inst, days, shifts)
    if weight is None or demand <= capacity:
        return 0
    return weight * (demand - capacity)


def _workable(inst: Instance, e: int, d: int) -> bool:
    return any(inst.may_work(e, d, s) for s in range(inst.n_shifts))


def _weekend_capacity(inst: Instance) -> int:
    total = 0
    for e in range(inst.n_employees):
        sizes = sorted(
            (sum(_workable(inst, e, d) for d in days) for days in inst.weekends), reverse=True
        )
        limit = inst.max_weekends[e]
        total += sum(sizes if limit is None else sizes[:limit])
    return total


def _horizon_capacity(inst: Instance) -> int:
    total = 0
    for e in range(inst.n_employees):
        days = sum(_workable(inst, e, d) for d in range(inst.days))
        limit = inst.max_minutes[e]
        shortest = min(
            (inst.duration[s] for s in range(inst.n_shifts) if inst.max_shifts[e][s] != 0),
            default=None,
        )
        if limit is not None and shortest:
            days = min(days, limit // shortest)
        total += days
    return total


def _type_capacity(inst: Instance) -> list[int]:
    """Per shift type, the most places of it the staff can work where it is demanded: each
    person at most their `max_shifts` of it and the demanded days they may work it."""
    out = []
    for s in range(inst.n_shifts):
        asked = [d for d, row in enumerate(inst.cover) if row[s] is not None and row[s][0] > 0]
        total = 0
        for e in range(inst.n_employees):
            days = sum(inst.may_work(e, d, s) for d in asked)
            cap = inst.max_shifts[e][s]
            total += days if cap is None else min(cap, days)
        out.append(total)
    return out
