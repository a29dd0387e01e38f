"""Text of the API's job views (DESIGN.md section 4) for `rota status` and `rota submit --wait`.

The job view is read as plain JSON, leniently: a field the API leaves out is shown as '-', so
a newer server never breaks an older client.
"""

from __future__ import annotations

from typing import Any

from domain.cli.render import _gap as gap

PENALTIES = ("requests_on", "requests_off", "cover_under", "cover_over")


def _value(x: object) -> str:
    return "-" if x is None else str(x)


def _seconds(x: object) -> str:
    return f"{x:.1f} s" if isinstance(x, int | float) else "-"


def _objective(summary: dict[str, Any]) -> str:
    objective = summary.get("objective")
    text = _value(objective)
    penalties = summary.get("penalties")
    if objective is not None and isinstance(penalties, dict):
        parts = [f"{k.replace('_', ' ')} {penalties[k]}" for k in PENALTIES if k in penalties]
        if parts:
            text += f" ({', '.join(parts)})"
    return text


def job_summary(job: dict[str, Any]) -> str:
    """A job view as aligned `label: value` lines."""
    job_id = _value(job.get("id"))
    status = _value(job.get("status"))
    lines = [f"job:             {job_id}"]
    if job.get("name"):
        lines.append(f"name:            {job['name']}")
    lines.append(f"status:          {status}")

    progress = job.get("progress")
    if status == "running" and isinstance(progress, dict):
        lines.append(
            f"progress:        {_seconds(progress.get('elapsed_seconds'))}, "
            f"{_value(progress.get('solver'))}, objective {_value(progress.get('objective'))}, "
            f"bound {_value(progress.get('bound'))}"
        )

    summary = job.get("summary")
    if isinstance(summary, dict):
        objective, bound = summary.get("objective"), summary.get("lower_bound")
        lines += [
            f"objective:       {_objective(summary)}",
            f"lower bound:     {_value(bound)}",
            f"gap:             {gap(objective, bound)}",
            f"solver:          {_value(summary.get('solver'))} "
            f"(solution {_value(summary.get('status'))})",
            f"solve time:      {_seconds(summary.get('solve_seconds'))}",
            f"assignments:     {_value(summary.get('assignments'))}",
            f"hard violations: {_value(summary.get('hard_violations'))}",
        ]

    error = job.get("error")
    if isinstance(error, dict) and (error.get("code") or error.get("detail")):
        code, detail = error.get("code"), error.get("detail")
        lines.append(f"error:           {': '.join(str(x) for x in (code, detail) if x)}")

    if status == "succeeded":
        lines.append(f"solution:        rota fetch {job_id}")
    return "\n".join(lines)
