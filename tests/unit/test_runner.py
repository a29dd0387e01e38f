"""The isolated runner: real child processes, real limits, real signals (DESIGN.md 6).

Every failure path is driven through a real `python -m domain.solver.child`: either by a real
limit (a tiny RLIMIT_AS, a short deadline) or by the child's test hook `ROTA_SOLVER_FAULT`.
Wall-time assertions only check the contract, `time_limit + grace` plus a little slack for
reaping and the parent's own bookkeeping.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import time

import pytest
from msgspec.structs import replace

from domain.problem import (
    Cover,
    Employee,
    Horizon,
    Options,
    Problem,
    Request,
    ShiftType,
    encode,
    solution_decoder,
)
from domain.solver import runner, warm
from domain.solver.child import FAULT_ENV, heuristic_budget
from domain.solver.evaluator import evaluate
from domain.solver.runner import Progress, solve_isolated

SLACK = 1.0  # seconds on top of time_limit + grace: reaping, evaluation, scheduling noise
MiB = 1024**2


def make_problem(
    employees: int, days: int, shifts: int, *, seed: int = 0, time_limit: float = 10.0
) -> Problem:
    """A Curtois-like random instance: hard per-employee rules, soft requests and cover."""
    rng = random.Random(seed)
    start = dt.date(2024, 1, 1)  # a Monday
    shift_types = [
        ShiftType(
            id=f"S{s}",
            duration_minutes=rng.choice((360, 480, 600)),
            # A later shift may not be followed by an earlier one the next day.
            forbidden_next=[f"S{t}" for t in range(s)],
        )
        for s in range(shifts)
    ]
    staff = [
        Employee(
            id=f"E{e}",
            max_shifts={f"S{s}": days * 5 // 7 for s in range(shifts)},
            min_total_minutes=days * 480 * 5 // 7 * 6 // 10,
            max_total_minutes=days * 480 * 5 // 7,
            min_consecutive_shifts=2,
            max_consecutive_shifts=5,
            min_consecutive_days_off=2,
            max_weekends=max(1, days // 14),
            days_off=[start + dt.timedelta(days=rng.randrange(days))],
        )
        for e in range(employees)
    ]
    requests = [
        Request(
            employee=f"E{e}",
            date=start + dt.timedelta(days=rng.randrange(days)),
            shift=f"S{rng.randrange(shifts)}",
            kind=rng.choice(("on", "off")),
            weight=rng.randint(1, 3),
        )
        for e in range(employees)
        for _ in range(max(1, days // 7))
    ]
    per_shift = max(1, employees // (2 * shifts))
    cover = [
        Cover(
            date=start + dt.timedelta(days=d),
            shift=f"S{s}",
            requirement=rng.randint(0, per_shift),
            under_weight=100,
            over_weight=1,
        )
        for d in range(days)
        for s in range(shifts)
    ]
    return Problem(
        horizon=Horizon(start=start, days=days),
        shift_types=shift_types,
        employees=staff,
        requests=requests,
        cover=cover,
        options=Options(time_limit_seconds=time_limit),
    )


SMALL = make_problem(3, 7, 1, seed=1)
MEDIUM = make_problem(30, 28, 4, seed=2)


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def assert_reaped(pid: int) -> None:
    with pytest.raises(ChildProcessError):  # not our child any more: no zombie left
        os.waitpid(pid, os.WNOHANG)


def assert_evaluated(problem: Problem, solution) -> None:
    evaluation = evaluate(problem, solution.assignments)
    assert solution.objective == evaluation.objective
    assert solution.penalties == evaluation.penalties
    assert solution.hard_violations == evaluation.violations


class Recorder:
    def __init__(self) -> None:
        self.pid: int | None = None
        self.progress: list[Progress] = []

    def on_start(self, pid: int) -> None:
        self.pid = pid

    def on_progress(self, p: Progress) -> None:
        self.progress.append(p)


# --- the normal path --------------------------------------------------------------------


def test_small_problem_is_solved_to_optimality_and_checked_by_the_evaluator() -> None:
    rec = Recorder()
    fds = open_fds()
    solution = solve_isolated(SMALL, on_start=rec.on_start, on_progress=rec.on_progress)

    assert solution.status == "optimal"
    assert solution.solver == "cp-sat"
    assert solution.stats["outcome"] == "optimal"
    assert solution.stats["fallback_reason"] is None
    assert_evaluated(SMALL, solution)
    assert solution.lower_bound == solution.objective
    assert solution.stats["cpsat_objective"] == solution.objective
    assert "objective_mismatch" not in solution.stats
    assert solution.stats["time_limit"] == SMALL.options.time_limit_seconds
    assert solution.stats["exit_code"] == 0
    assert solution.stats["solutions"] >= 1
    # The heuristic roster comes first, then CP-SAT's, each no worse than the one before.
    assert rec.progress[0].solver == "heuristic"
    assert rec.progress[0].bound is None
    cpsat = [p.objective for p in rec.progress if p.solver == "cp-sat"]
    assert cpsat
    assert cpsat == sorted(cpsat, reverse=True)
    assert rec.progress[-1].objective == solution.objective
    assert solution_decoder.decode(encode(solution)) == solution  # stats are plain JSON
    assert rec.pid is not None
    assert_reaped(rec.pid)
    assert open_fds() == fds


def test_child_gets_no_secrets_from_the_worker_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://user:secret@db/rota")
    env = warm.child_env()
    assert "DATABASE_URL" not in env
    assert env["MALLOC_ARENA_MAX"] == "2"


def test_problem_with_no_feasible_roster_returns_the_heuristic_roster_with_violations() -> None:
    # More minutes than the horizon can hold: CP-SAT proves it at once.
    impossible = replace(SMALL.employees[0], min_total_minutes=8 * 24 * 60)
    problem = replace(SMALL, employees=[impossible, *SMALL.employees[1:]])
    solution = solve_isolated(problem)

    assert solution.stats["outcome"] == "infeasible"
    assert solution.stats["fallback_reason"] == "cp-sat proved the problem infeasible"
    assert solution.status == "infeasible"
    assert solution.solver == "heuristic"
    assert solution.lower_bound is None
    assert solution.assignments
    assert_evaluated(problem, solution)
    assert any(v.rule == "min_total_minutes" for v in solution.hard_violations)


# --- deadlines --------------------------------------------------------------------------


@pytest.mark.slow
def test_big_instance_returns_within_time_limit_plus_grace() -> None:
    # Instance22-sized (50 employees, 364 days, 10 shift types): building the model alone
    # takes longer than the time limit, so the parent's deadline is what ends the solve.
    problem = make_problem(50, 364, 10, seed=3, time_limit=2.0)
    rec = Recorder()
    t0 = time.monotonic()
    solution = solve_isolated(problem, grace=1.0, on_start=rec.on_start)
    elapsed = time.monotonic() - t0

    assert elapsed <= 2.0 + 1.0 + SLACK
    assert solution.stats["time_limit"] == 2.0  # taken from problem.options
    assert solution.stats["outcome"] in ("timeout", "feasible", "optimal")
    assert solution.assignments  # never empty-handed: the heuristic roster at worst
    assert_evaluated(problem, solution)
    assert rec.pid is not None
    assert_reaped(rec.pid)


@pytest.mark.slow
def test_hanging_child_is_killed_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    # The hook makes the child ignore SIGTERM, so this also proves the SIGKILL escalation.
    monkeypatch.setenv(FAULT_ENV, "hang")
    rec = Recorder()
    fds = open_fds()
    t0 = time.monotonic()
    solution = solve_isolated(
        MEDIUM, time_limit=1.5, grace=1.0, on_start=rec.on_start, on_progress=rec.on_progress
    )
    elapsed = time.monotonic() - t0

    assert solution.stats["outcome"] == "timeout"
    assert solution.stats["killed"] == "deadline"
    assert solution.stats["exit_signal"] == signal.SIGKILL
    assert solution.solver == "heuristic"
    assert solution.stats["heuristic_objective"] == solution.objective  # the child's roster
    assert solution.assignments
    assert_evaluated(MEDIUM, solution)
    assert elapsed <= 1.5 + 1.0 + SLACK
    assert [p.solver for p in rec.progress] == ["heuristic"]
    assert rec.pid is not None
    assert_reaped(rec.pid)
    assert open_fds() == fds


# --- crashes ----------------------------------------------------------------------------


def test_child_killed_mid_solve_is_a_crash_and_the_streamed_roster_is_returned() -> None:
    rec = Recorder()

    def kill_on_first_roster(p: Progress) -> None:
        rec.on_progress(p)
        if len(rec.progress) == 1:
            assert rec.pid is not None
            os.kill(rec.pid, signal.SIGKILL)

    solution = solve_isolated(
        MEDIUM, time_limit=30, on_start=rec.on_start, on_progress=kill_on_first_roster
    )

    assert solution.stats["outcome"] == "crash"
    assert solution.stats["exit_signal"] == signal.SIGKILL
    assert solution.stats["killed"] is None  # not by us
    assert solution.assignments
    assert_evaluated(MEDIUM, solution)
    if solution.solver == "heuristic":
        assert solution.stats["fallback_reason"] == "solver child crashed (signal 9)"
        assert solution.objective == solution.stats["heuristic_objective"]
    assert rec.pid is not None
    assert_reaped(rec.pid)


def test_child_killed_before_any_roster_falls_back_to_the_heuristic_in_the_parent() -> None:
    solution = solve_isolated(MEDIUM, time_limit=30, on_start=lambda pid: os.kill(pid, 9))

    assert solution.stats["outcome"] == "crash"
    assert solution.stats["fallback_reason"] == "solver child crashed (signal 9)"
    assert solution.stats["heuristic_objective"] is None  # nothing came from the child
    assert solution.solver == "heuristic"
    assert solution.assignments
    assert_evaluated(MEDIUM, solution)


def test_native_crash_falls_back_to_the_heuristic(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "crash")
    solution = solve_isolated(SMALL)

    assert solution.stats["outcome"] == "crash"
    assert solution.stats["fallback_reason"] == "solver child crashed (signal 11)"
    assert solution.stats["exit_signal"] == signal.SIGSEGV
    assert solution.solver == "heuristic"
    assert solution.status == "feasible"  # the heuristic roster breaks no hard rule here
    assert_evaluated(SMALL, solution)


def test_without_fallback_a_crash_returns_no_roster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "crash")
    solution = solve_isolated(SMALL, fallback=False)

    assert solution.stats["outcome"] == "crash"
    assert solution.status == "unknown"
    assert solution.assignments == []
    assert solution.objective is None


def test_protocol_garbage_is_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(FAULT_ENV, "garbage")
    rec = Recorder()
    solution = solve_isolated(SMALL, time_limit=30, on_start=rec.on_start)

    assert solution.stats["outcome"] == "crash"
    assert solution.stats["killed"] == "protocol"
    assert solution.stats["fallback_reason"].startswith("solver child broke the protocol")
    assert solution.solver == "heuristic"
    assert rec.pid is not None
    assert_reaped(rec.pid)


# --- memory -----------------------------------------------------------------------------


def test_memory_error_in_the_child_is_reported_as_out_of_memory(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The hook allocates and touches real memory until RLIMIT_AS raises MemoryError.
    monkeypatch.setenv(FAULT_ENV, "oom")
    solution = solve_isolated(SMALL, memory_limit_bytes=400 * MiB)

    assert solution.stats["outcome"] == "out_of_memory"
    assert solution.stats["fallback_reason"] == "cp-sat out of memory"
    assert solution.stats["exit_code"] == 3
    assert solution.stats["memory_limit"] == 400 * MiB
    assert solution.solver == "heuristic"
    assert_evaluated(SMALL, solution)


@pytest.mark.slow
def test_real_memory_limit_too_small_for_cp_sat_falls_back() -> None:
    # Measured: the child runs the heuristic in < 100 MB and imports ortools in ~250-300 MB
    # of address space, but even a trivial model with 8 CP-SAT workers needs ~370 MB. At
    # 300 MB the child dies inside CP-SAT (std::bad_alloc or a thread that cannot get its
    # stack, aborting the process) or fails to map an ortools library: all out of memory.
    rec = Recorder()
    solution = solve_isolated(
        MEDIUM, time_limit=30, memory_limit_bytes=300 * MiB, on_start=rec.on_start
    )

    assert solution.stats["outcome"] == "out_of_memory"
    assert "out of memory" in solution.stats["fallback_reason"]
    assert solution.solver == "heuristic"
    assert solution.assignments
    assert_evaluated(MEDIUM, solution)
    assert rec.pid is not None
    assert_reaped(rec.pid)


# --- cancellation -----------------------------------------------------------------------


@pytest.mark.slow
def test_cancel_stops_the_child_and_returns_the_best_roster_so_far() -> None:
    rec = Recorder()
    polls = 0

    def cancel_after_first_roster() -> bool:
        nonlocal polls
        polls += 1
        return bool(rec.progress)

    t0 = time.monotonic()
    solution = solve_isolated(
        MEDIUM,
        time_limit=60,
        on_start=rec.on_start,
        on_progress=rec.on_progress,
        should_cancel=cancel_after_first_roster,
    )

    assert time.monotonic() - t0 < 30  # nowhere near the 60 s time limit
    assert polls >= 2
    assert solution.stats["outcome"] == "cancelled"
    assert solution.stats["killed"] == "cancel"
    assert solution.assignments
    assert solution.objective == rec.progress[-1].objective
    assert_evaluated(MEDIUM, solution)
    assert rec.pid is not None
    assert_reaped(rec.pid)


# --- classification, without a process --------------------------------------------------


@pytest.mark.parametrize(
    ("code", "tail", "outcome"),
    [
        (-6, b"terminate called after throwing an instance of 'std::bad_alloc'", "out_of_memory"),
        (-6, b"what():  Resource temporarily unavailable", "out_of_memory"),
        (-6, b"terminate called recursively", "out_of_memory"),  # threads failing together
        (1, b"OpenBLAS error: Memory allocation still failed", "out_of_memory"),
        (-6, b"Check failed: x > 0", "crash"),
        (-15, b"std::bad_alloc", "crash"),  # SIGTERM from someone else is no memory failure
        (0, b"", "crash"),  # exited cleanly without a result
    ],
)
def test_death_is_classified_from_signal_and_stderr(code: int, tail: bytes, outcome: str) -> None:
    watch = runner._Watch(started=0.0, returncode=code)
    watch.stderr.append(tail)
    assert runner._classify(watch)[0] == outcome


def test_the_child_heuristic_gets_more_time_on_large_instances() -> None:
    # Small instances: a share of the limit, capped; large ones (CP-SAT sees only windows
    # there): a bigger share, uncapped. Both stay well inside the time limit.
    assert heuristic_budget(1_000, 2.0) == pytest.approx(0.3)
    assert heuristic_budget(1_000, 30.0) == pytest.approx(4.5)
    assert heuristic_budget(1_000, 300.0) == pytest.approx(5.0)
    assert heuristic_budget(100_000, 30.0) == pytest.approx(10.5)
    for cells in (10, 1_000, 100_000):
        assert heuristic_budget(cells, 10.0) < 10.0 / 2


def test_the_child_heuristic_of_a_tiny_instance_is_short() -> None:
    # Instance1 (8 x 14 x 1 = 112 cells): 0.28 s, not a share of the limit; CP-SAT proves
    # such problems from any hint. Just past the tiny size the share applies again.
    assert heuristic_budget(112, 30.0) == pytest.approx(0.28)
    assert heuristic_budget(112, 0.5) == pytest.approx(0.075)  # the share, when smaller
    assert heuristic_budget(501, 30.0) == pytest.approx(4.5)
