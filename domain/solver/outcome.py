"""What a supervised solve turned out to be, and the `Solution` the caller gets for it.

`runner.py` supervises the child and records everything it observes in a `_Watch`: the
rosters streamed, the final result, the child's own failure reports, how it ended (exit code
or signal, whether the parent stopped it and why) and the tail of its stderr. This module
turns that record into a `Solution`; it never touches a process, so the whole decision can
be tested on a hand-made `_Watch` (see `tests/unit/test_runner.py`).

`_classify` picks one outcome (`stats.outcome`), checking in this order, first match wins:

1. cancelled by the caller: whatever the child did after that does not matter;
2. the child could not be started at all (a crash, with the spawn error);
3. the child sent its final result: CP-SAT's own status is authoritative;
4. the parent killed the child at its deadline: `feasible` with a CP-SAT roster, else
   `timeout` (checked before any memory sign: a SIGKILL from us is no memory failure);
5. the child reported running out of memory itself (an ``oom`` message or exit `EXIT_OOM`);
6. the child broke the protocol;
7. the child died in a way that looks like an exhausted address space (below);
8. the child reported another exception (an ``error`` message);
9. anything else is a crash, including a clean exit without a result.

How an exhausted address space kills CP-SAT (measured, under RLIMIT_AS): with several CP-SAT
workers a failed allocation in a worker thread often aborts the whole process
(`std::bad_alloc`, then std::terminate: SIGABRT) instead of raising a Python `MemoryError`,
and a worker thread whose stack cannot be mapped fails with EAGAIN ("Resource temporarily
unavailable"). When that happens in native code the process dies before the child can send
an ``oom`` message, so `_looks_like_oom` recognises it afterwards from how the child died (one
of `_MEMORY_SIGNALS`, or a non-zero exit code) and from `_MEMORY_MARKERS` in its stderr tail;
any other signal (SIGTERM from someone else) is never taken for a memory failure.

`_solution` then chooses the roster: the best CP-SAT roster (unless CP-SAT proved the problem
infeasible), else, with `fallback`, the heuristic roster the child streamed first, else a
heuristic roster computed in the parent by `_parent_heuristic`. Every roster is re-scored by
the evaluator, and a CP-SAT objective that disagrees with it is flagged.

The names keep their leading underscore: they are the runner's internals, split out of it,
and `runner.py` is the only module meant to use them.
"""

from __future__ import annotations

import logging
import signal
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from domain.problem import Penalties, Problem, Solution, SolutionStatus, Violation
from domain.solver.child import (
    EXIT_OOM,
    HEURISTIC_MAX_SECONDS,
    HEURISTIC_SHARE,
    ErrorMsg,
    OomMsg,
    ResultMsg,
)
from domain.solver.evaluator import evaluate
from domain.solver.heuristic import solve_heuristic
from domain.solver.instance import Instance, Roster

# The runner's logger: these records belong to a solve it runs, and keep the name they had
# before this module was split out of it.
logger = logging.getLogger("domain.solver.runner")

STDERR_TAIL = 8192  # bytes of the child's stderr kept for diagnosis

# Signs in the child's stderr that it died because the address space ran out: with several
# CP-SAT workers a failed allocation in a worker thread aborts the process (std::terminate)
# instead of raising MemoryError, and a thread whose stack cannot be mapped under RLIMIT_AS
# fails with EAGAIN ("Resource temporarily unavailable").
_MEMORY_MARKERS = (
    b"bad_alloc",
    b"memory",
    b"Resource temporarily unavailable",
    b"failed to map segment",
    # Several worker threads failing at once: the second std::terminate prints only this, and
    # the first one's bad_alloc text can be lost (seen in 7 of 30 solves under 300 MiB).
    b"terminate called recursively",
)
_MEMORY_SIGNALS = (signal.SIGABRT, signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS)


@dataclass
class _Watch:
    """What the parent has learnt from one child."""

    started: float
    heuristic: Roster | None = None
    heuristic_objective: int | None = None
    cpsat: Roster | None = None
    cpsat_objective: int | None = None
    bound: int | None = None
    solutions: int = 0
    result: ResultMsg | None = None
    oom: OomMsg | None = None
    error: ErrorMsg | None = None
    protocol_error: str | None = None
    spawn_error: str | None = None
    stopped: str | None = None  # "deadline" | "cancel" | "protocol", when we stopped it
    returncode: int | None = None
    pid: int | None = None
    stderr: deque[bytes] = field(default_factory=lambda: deque(maxlen=64))

    def stderr_tail(self) -> bytes:
        return b"".join(self.stderr)[-STDERR_TAIL:]


def _classify(w: _Watch) -> tuple[str, str | None]:
    """The outcome of the run and, when it is not a plain success, why."""
    code = w.returncode
    if w.stopped == "cancel":
        return "cancelled", "cancelled by the caller"
    if w.spawn_error is not None:
        return "crash", f"could not start the solver child ({w.spawn_error})"
    if w.result is not None:
        status = w.result.status
        if status in ("optimal", "feasible") and w.cpsat is not None:
            return status, None
        if status == "infeasible":
            return "infeasible", "cp-sat proved the problem infeasible"
        if status == "unknown":
            return "timeout", "cp-sat found no roster within the time limit"
        return "crash", f"cp-sat ended with status {status}"
    if w.stopped == "deadline":
        if w.cpsat is not None:
            return "feasible", None
        return "timeout", "solver child passed its deadline and was killed"
    if w.oom is not None or code == EXIT_OOM:
        phase = w.oom.phase if w.oom is not None else "cp-sat"
        where = "cp-sat" if phase in ("cp-sat", "reporting") else f"solver child ({phase})"
        return "out_of_memory", f"{where} out of memory"
    if w.stopped == "protocol":
        return "crash", f"solver child broke the protocol ({w.protocol_error})"
    if code is not None and code != 0 and _looks_like_oom(code, w.stderr_tail()):
        return "out_of_memory", f"cp-sat out of memory ({_death(code)})"
    if w.error is not None:
        return "crash", f"solver child failed ({w.error.kind} while {w.error.phase})"
    if code:
        return "crash", f"solver child crashed ({_death(code)})"
    return "crash", "solver child exited without a result"


def _looks_like_oom(code: int, tail: bytes) -> bool:
    if code < 0 and -code not in _MEMORY_SIGNALS:
        return False
    lowered = tail.lower()
    return any(m.lower() in lowered for m in _MEMORY_MARKERS)


def _death(code: int) -> str:
    return f"signal {-code}" if code < 0 else f"exit code {code}"


def _solution(
    problem: Problem,
    instance: Instance,
    w: _Watch,
    outcome: str,
    reason: str | None,
    limit: float,
    grace: float,
    fallback: bool,
    workers: int,
    memory_limit: int,
) -> Solution:
    stats: dict[str, Any] = {
        "outcome": outcome,
        "fallback_reason": None,
        "time_limit": limit,
        "memory_limit": memory_limit,
        "workers": workers,
        "exit_code": w.returncode if w.returncode is None or w.returncode >= 0 else None,
        "exit_signal": -w.returncode if w.returncode is not None and w.returncode < 0 else None,
        "killed": w.stopped,
        "solutions": w.solutions,
        "cpsat_objective": w.cpsat_objective,
        "heuristic_objective": w.heuristic_objective,
    }
    if w.result is not None:
        stats["cpsat"] = w.result.stats
    roster: Roster | None = None
    solver = "cp-sat"
    if w.cpsat is not None and outcome != "infeasible":
        roster = w.cpsat
        if reason is not None and outcome != "cancelled":
            stats["error"] = reason  # the child failed after it had found a CP-SAT roster
    elif fallback:
        solver = "heuristic"
        stats["fallback_reason"] = reason
        roster = w.heuristic
        if roster is None and outcome != "cancelled":
            roster = _parent_heuristic(instance, problem, w, limit, grace, stats)
    else:
        stats["error"] = reason

    status: SolutionStatus
    objective: int | None = None
    penalties = Penalties()
    violations: list[Violation] = []
    if roster is not None:
        evaluation = evaluate(problem, instance.assignments(roster))
        objective, penalties, violations = (
            evaluation.objective,
            evaluation.penalties,
            evaluation.violations,
        )
    if outcome == "infeasible":
        status = "infeasible"
    elif roster is None:
        status = "unknown"
    elif solver == "cp-sat":
        status = "optimal" if outcome == "optimal" else "feasible"
    else:
        status = "feasible" if not violations else "unknown"
    if solver == "cp-sat" and roster is not None and objective != w.cpsat_objective:
        stats["objective_mismatch"] = True
        logger.error(
            "CP-SAT objective %s differs from the evaluator's %s", w.cpsat_objective, objective
        )
    stats["wall_time"] = round(time.monotonic() - w.started, 3)
    return Solution(
        status=status,
        objective=objective,
        lower_bound=w.bound if outcome != "infeasible" else None,
        solver=solver,
        assignments=instance.assignments(roster) if roster is not None else [],
        penalties=penalties,
        hard_violations=violations,
        stats=stats,
    )


def _parent_heuristic(
    instance: Instance,
    problem: Problem,
    w: _Watch,
    limit: float,
    grace: float,
    stats: dict[str, Any],
) -> Roster | None:
    """The fallback of last resort, when the child died before it streamed any roster."""
    left = w.started + limit + grace - time.monotonic()
    budget = max(0.1, min(HEURISTIC_MAX_SECONDS, HEURISTIC_SHARE * limit, left))
    try:
        return solve_heuristic(instance, time_limit=budget, seed=problem.options.seed or 0)
    except Exception as exc:  # includes MemoryError: it must not escape into a worker
        logger.exception("fallback heuristic failed")
        stats["fallback_error"] = type(exc).__name__
        return None
