"""Text output of the CLI: the roster table, the solve summary and the progress line."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from domain.problem import Assignment, Problem, Solution, Violation

if TYPE_CHECKING:
    from domain.solver.runner import Progress

WEEKDAYS = ("Mo", "Tu", "We", "Th", "Fr", "SA", "SU")  # weekend days in capitals
MAX_LABEL = 28
MAX_VIOLATIONS_SHOWN = 10
OFF = "."
SEVERAL = "!"


def _label(employee_id: str, name: str | None) -> str:
    label = f"{name} ({employee_id})" if name and name != employee_id else employee_id
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "~"


def roster_table(problem: Problem, assignments: Sequence[Assignment]) -> str:
    """Employees x dates: shift ids, '.' off, weeks split by '|', weekend days in capitals;
    then, per shift type with cover demand, how many are on it ('-' under, '+' over)."""
    h = problem.horizon
    dates = [h.date(d) for d in range(h.days)]
    duration = {s.id: s.duration_minutes for s in problem.shift_types}
    cells = {e.id: [OFF] * h.days for e in problem.employees}
    staffed: Counter[tuple[int, str]] = Counter()
    minutes: Counter[str] = Counter()
    for a in assignments:
        row, d = cells.get(a.employee), h.day(a.date)
        if row is None or not 0 <= d < h.days:
            continue  # the evaluator reports these; the table shows the roster only
        row[d] = a.shift if row[d] == OFF else SEVERAL
        staffed[d, a.shift] += 1
        minutes[a.employee] += duration.get(a.shift, 0)

    demand = {(h.day(c.date), c.shift): c.requirement for c in problem.cover}
    cover_rows: list[tuple[str, list[str]]] = []
    for s in problem.shift_types:
        if not any(shift == s.id for _, shift in demand):
            continue
        row = []
        for d in range(h.days):
            n, need = staffed[d, s.id], demand.get((d, s.id))
            mark = "" if need is None or n == need else ("-" if n < need else "+")
            row.append(f"{n}{mark}")
        cover_rows.append((f"staffed {s.id}", row))

    texts = [c for row in cells.values() for c in row] + [c for _, r in cover_rows for c in r]
    width = max(2, *(len(t) for t in texts)) if texts else 2
    labels = [_label(e.id, e.name) for e in problem.employees] + [x for x, _ in cover_rows]
    lw = max(len("employee"), *(len(x) for x in labels))

    def line(label: str, values: Sequence[str], tail: str = "") -> str:
        parts = [f"{label:<{lw}}"]
        for d, (date, value) in enumerate(zip(dates, values, strict=True)):
            if d and date.weekday() == 0:
                parts.append(" |")
            parts.append(f" {value:>{width}}")
        return "".join(parts) + tail

    first, last = dates[0], dates[-1]
    title = f"Roster: {problem.name}, " if problem.name else "Roster: "
    out = [
        f"{title}{first:%a %Y-%m-%d} .. {last:%a %Y-%m-%d} ('{OFF}' off, weekend days in capitals)",
        line("", [WEEKDAYS[x.weekday()] for x in dates], "   days  hours"),
        line("employee", [f"{x.day:02d}" for x in dates]),
    ]
    for e in problem.employees:
        row = cells[e.id]
        worked = sum(1 for c in row if c != OFF)
        out.append(line(_label(e.id, e.name), row, f"  {worked:>5} {minutes[e.id] / 60:>6.1f}"))
    if cover_rows:
        out.append("")
        out += [line(label, row) for label, row in cover_rows]
        out.append(f"{'':<{lw}} ('-' fewer people than the cover demand, '+' more)")
    if any(SEVERAL in row for row in cells.values()):
        out.append(f"{SEVERAL} = several shifts on one day")
    return "\n".join(out)


def _gap(objective: int | None, bound: int | None) -> str:
    if objective is None or bound is None:
        return "-"
    return f"{100 * (objective - bound) / max(abs(objective), 1):.1f}%"


def format_violation(v: Violation) -> str:
    dates = ", ".join(d.isoformat() for d in v.dates[:7]) + (" ..." if len(v.dates) > 7 else "")
    where = f" {dates}" if dates else ""
    return f"{v.rule}: {v.employee}{where}: {v.detail}"


def solve_summary(solution: Solution, seconds: float, time_limit: float) -> str:
    p = solution.penalties
    objective = "-" if solution.objective is None else str(solution.objective)
    if solution.objective is not None:
        objective += (
            f" (requests on {p.requests_on}, requests off {p.requests_off}, "
            f"cover under {p.cover_under}, cover over {p.cover_over})"
        )
    bound = "-" if solution.lower_bound is None else str(solution.lower_bound)
    lines = [
        f"status:          {solution.status}",
        f"objective:       {objective}",
        f"lower bound:     {bound}",
        f"gap:             {_gap(solution.objective, solution.lower_bound)}",
        f"time:            {seconds:.1f} s (limit {time_limit:g} s)",
        f"solver:          {solution.solver}",
    ]
    if reason := solution.stats.get("fallback_reason"):
        lines.append(f"fallback reason: {reason}")
    if error := solution.stats.get("error"):
        lines.append(f"solver error:    {error}")
    lines.append(f"hard violations: {len(solution.hard_violations)}")
    for v in solution.hard_violations[:MAX_VIOLATIONS_SHOWN]:
        lines.append(f"  {format_violation(v)}")
    if (extra := len(solution.hard_violations) - MAX_VIOLATIONS_SHOWN) > 0:
        lines.append(f"  ... and {extra} more (see the solution JSON)")
    return "\n".join(lines)


class ProgressLine:
    """One self-overwriting status line on a terminal; silent when the stream is not one."""

    def __init__(self, stream: TextIO, prefix: str = "") -> None:
        self.stream = stream
        self.prefix = prefix
        self.enabled = _isatty(stream)
        self._shown = False

    def __call__(self, progress: Progress) -> None:
        if not self.enabled:
            return
        objective, bound = progress.objective, progress.bound
        elapsed, solver = progress.elapsed, progress.solver
        text = (
            f"{self.prefix}{elapsed:6.1f}s  {solver:<9}  "
            f"objective {'-' if objective is None else objective}  "
            f"bound {'-' if bound is None else bound}  gap {_gap(objective, bound)}"
        )
        self.stream.write(f"\r\x1b[K{text}")
        self.stream.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or a fake stream
        return False
