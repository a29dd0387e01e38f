"""Run one solve in an isolated, resource-limited child process (DESIGN.md section 6).

`solve_isolated` starts a fresh interpreter (`python -m domain.solver.child`) for every solve,
with `RLIMIT_AS` set inside the child, and supervises it from here:

* the wall clock is enforced by this process: CP-SAT can overrun its own time limit by minutes
  with one search worker, so the child gets SIGTERM shortly before `time_limit + grace` and
  SIGKILL at that instant;
* every message is read with a deadline, the best roster seen is kept, the child is always
  reaped and every pipe closed;
* whatever happens to the child (out of memory, a crash, a hang, a protocol error), the caller
  gets a `Solution`: the best CP-SAT roster, else the heuristic roster the child streamed
  first, else a heuristic roster computed here.

A fresh interpreter via `subprocess.Popen`, not `multiprocessing`: Celery's prefork pool
children are daemonic and may not have children of their own through multiprocessing, and a
forked copy of a worker would inherit its memory and threads.
"""

from __future__ import annotations

import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from domain.problem import Penalties, Problem, Solution, SolutionStatus, Violation, encode
from domain.solver.child import (
    EXIT_OOM,
    FAULT_ENV,
    HEURISTIC_MAX_SECONDS,
    HEURISTIC_SHARE,
    ErrorMsg,
    OomMsg,
    ProgressMsg,
    ResultMsg,
    SolutionMsg,
    message_decoder,
)
from domain.solver.evaluator import evaluate
from domain.solver.heuristic import solve_heuristic
from domain.solver.instance import Instance, Roster, compile_problem

logger = logging.getLogger(__name__)

GiB = 1024**3
DEFAULT_MEMORY_LIMIT = 2 * GiB
DEFAULT_GRACE = 5.0
DEFAULT_WORKERS = 8

POLL_INTERVAL = 0.2  # seconds between two should_cancel() polls
TERM_WAIT = 0.5  # seconds between SIGTERM and SIGKILL
REAP_WAIT = 2.0  # seconds to wait for a SIGKILLed child to be reaped before giving up on it
STDERR_TAIL = 8192  # bytes of the child's stderr kept for diagnosis
MAX_LINE = 256 * 1024**2  # a protocol line longer than this is a protocol error

# The repository root, so the child imports the same `domain` package as this process.
_ROOT = Path(__file__).resolve().parents[2]

# The child inherits only what an interpreter needs, not the worker's secrets (database URL,
# Vault token ...): it runs native code on client-supplied input.
_ENV_NAMES = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR", FAULT_ENV})
_ENV_PREFIXES = ("PYTHON", "LC_", "LD_")

# Settings of the child. glibc gives each thread that allocates its own 64 MiB malloc arena
# of address space, and OpenBLAS (imported by ortools through numpy/pandas) starts one thread
# per core: with 8 CP-SAT workers that made RLIMIT_AS fail at random between 300 MB and
# 700 MB (measured: a trivial model needs 0.30-0.77 GB of address space without these
# settings, a steady 0.37 GB with them), so the limit is predictable only with them.
_CHILD_ENV = {"MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}

# Signs in the child's stderr that it died because the address space ran out: with several
# CP-SAT workers a failed allocation in a worker thread aborts the process (std::terminate)
# instead of raising MemoryError, and a thread whose stack cannot be mapped under RLIMIT_AS
# fails with EAGAIN ("Resource temporarily unavailable").
_MEMORY_MARKERS = (
    b"bad_alloc",
    b"memory",
    b"Resource temporarily unavailable",
    b"failed to map segment",
)
_MEMORY_SIGNALS = (signal.SIGABRT, signal.SIGKILL, signal.SIGSEGV, signal.SIGBUS)


@dataclass(frozen=True)
class Progress:
    """One step of a running solve, for `on_progress`."""

    objective: int | None  # best objective so far (the heuristic's, then CP-SAT's)
    bound: int | None  # best lower bound CP-SAT has proven so far
    elapsed: float  # seconds since solve_isolated was called
    solver: str  # "heuristic" | "cp-sat"


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


def solve_isolated(
    problem: Problem,
    *,
    time_limit: float | None = None,
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT,
    grace: float = DEFAULT_GRACE,
    workers: int = DEFAULT_WORKERS,
    fallback: bool = True,
    on_progress: Callable[[Progress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> Solution:
    """Solve a *validated* problem in a child process; always returns a `Solution`.

    Wall time stays within `time_limit + grace` (plus the heuristic fallback only when the
    child produced nothing at all); `memory_limit_bytes` is the child's RLIMIT_AS (0 = none).
    """
    started = time.monotonic()
    limit = problem.options.time_limit_seconds if time_limit is None else time_limit
    instance = compile_problem(problem)
    watch = _Watch(started=started)
    _supervise(
        watch,
        problem,
        limit,
        memory_limit_bytes,
        grace,
        workers,
        on_progress=on_progress,
        should_cancel=should_cancel,
        on_start=on_start,
    )
    outcome, reason = _classify(watch)
    if outcome in ("crash", "out_of_memory"):
        logger.warning(
            "solver child %s ended with %s (%s); stderr tail: %s",
            watch.pid,
            outcome,
            reason,
            watch.stderr_tail().decode(errors="replace"),
        )
    return _solution(
        problem,
        instance,
        watch,
        outcome,
        reason,
        limit,
        grace,
        fallback,
        workers,
        memory_limit_bytes,
    )


# --- supervising the child ----------------------------------------------------------------


def _supervise(
    watch: _Watch,
    problem: Problem,
    limit: float,
    memory_limit: int,
    grace: float,
    workers: int,
    *,
    on_progress: Callable[[Progress], None] | None,
    should_cancel: Callable[[], bool] | None,
    on_start: Callable[[int], None] | None,
) -> None:
    kill_at = watch.started + limit + grace
    term_at = kill_at - min(TERM_WAIT, grace / 2)
    # The child's clock starts later than ours: give it what is left of the time limit.
    child_limit = max(limit - (time.monotonic() - watch.started), 0.1)
    argv = [
        sys.executable,
        "-m",
        "domain.solver.child",
        "--time-limit",
        repr(child_limit),
        "--memory-limit",
        str(int(memory_limit)),
        "--workers",
        str(int(workers)),
        "--seed",
        str(problem.options.seed or 0),
    ]
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [*argv, "--fd", str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(write_fd,),
            cwd=_ROOT,
            env=_child_env(),
        )
    except OSError as exc:  # EAGAIN, ENOMEM: the machine could not start a process
        os.close(read_fd)
        watch.spawn_error = f"{type(exc).__name__}: {exc}"
        return
    finally:
        os.close(write_fd)

    watch.pid = proc.pid
    assert proc.stdin is not None
    assert proc.stderr is not None
    feeder = threading.Thread(
        target=_feed, args=(proc.stdin, encode(problem)), name="solver-stdin", daemon=True
    )
    feeder.start()
    err_fd = proc.stderr.fileno()
    reader = _Reader(watch, on_progress)
    try:
        _guard(on_start, proc.pid)
        with selectors.DefaultSelector() as sel:
            for fd in (read_fd, err_fd):
                os.set_blocking(fd, False)
                sel.register(fd, selectors.EVENT_READ)
            next_poll = time.monotonic()
            while sel.get_map():
                now = time.monotonic()
                if should_cancel is not None and now >= next_poll:
                    next_poll = now + POLL_INTERVAL
                    if _guard(should_cancel):
                        watch.stopped = "cancel"
                        break
                if now >= term_at:
                    watch.stopped = "deadline"
                    break
                timeout = min(term_at, next_poll if should_cancel else term_at) - now
                for key, _ in sel.select(max(timeout, 0.0)):
                    if not _pump(key.fd, read_fd, reader, watch):
                        sel.unregister(key.fd)
                if reader.failed:
                    watch.stopped = "protocol"
                    break
        if watch.stopped is None:
            # Both pipes are closed: the child is exiting. It still may not pass the deadline.
            try:
                proc.wait(timeout=max(term_at - time.monotonic(), 0.0))
            except subprocess.TimeoutExpired:
                watch.stopped = "deadline"
    finally:
        _stop(proc, min(kill_at, time.monotonic() + TERM_WAIT))
        watch.returncode = proc.returncode
        # Whatever the child wrote before it died is still in the pipes.
        for fd in (read_fd, err_fd):
            while _pump(fd, read_fd, reader, watch):
                pass
        os.close(read_fd)
        proc.stderr.close()
        feeder.join(timeout=1.0)


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)}
    return {**env, **_CHILD_ENV}


def _feed(stream: Any, data: bytes) -> None:
    try:
        stream.write(data)
        stream.close()
    except (BrokenPipeError, OSError, ValueError):
        pass  # the child died before reading its problem; the supervisor sees why


def _pump(fd: int, read_fd: int, reader: _Reader, watch: _Watch) -> bool:
    """Read what is available on one pipe; False at end of file."""
    try:
        data = os.read(fd, 1 << 16)
    except BlockingIOError:
        return True
    except OSError:
        return False
    if not data:
        return False
    if fd == read_fd:
        reader.feed(data)
    else:
        watch.stderr.append(data)
    return True


def _stop(proc: subprocess.Popen[bytes], kill_at: float) -> None:
    """SIGTERM, then SIGKILL at `kill_at` at the latest; always reap."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=max(kill_at - time.monotonic(), 0.05))
        except subprocess.TimeoutExpired:
            proc.kill()
    try:
        proc.wait(timeout=REAP_WAIT)
    except subprocess.TimeoutExpired:  # stuck in the kernel: reap it whenever it goes
        logger.error("solver child %s did not die after SIGKILL", proc.pid)
        threading.Thread(target=proc.wait, name="solver-reaper", daemon=True).start()


def _guard(callback: Callable[..., Any] | None, *args: Any) -> Any:
    """Call a caller's hook; its failure must not take the supervision down with it."""
    if callback is None:
        return None
    try:
        return callback(*args)
    except Exception:
        logger.exception("solver callback %r failed", callback)
        return None


class _Reader:
    """Splits the protocol stream into lines and folds each message into the watch."""

    def __init__(self, watch: _Watch, on_progress: Callable[[Progress], None] | None) -> None:
        self._watch = watch
        self._on_progress = on_progress
        self._buffer = bytearray()
        self.failed = False

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while not self.failed and (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end])
            del self._buffer[: end + 1]
            try:
                self._handle(message_decoder.decode(line))
            except msgspec.DecodeError as exc:
                self._fail(f"undecodable message: {exc}")
        if len(self._buffer) > MAX_LINE:
            self._fail("message too long")

    def _fail(self, why: str) -> None:
        self.failed = True
        self._watch.protocol_error = self._watch.protocol_error or why

    def _handle(self, msg: object) -> None:
        w = self._watch
        report: tuple[int | None, int | None, str] | None = None
        if isinstance(msg, SolutionMsg) and msg.solver == "heuristic":
            w.heuristic, w.heuristic_objective = msg.roster, msg.objective
            if w.cpsat is None:
                report = (msg.objective, w.bound, "heuristic")
        elif isinstance(msg, SolutionMsg):
            w.cpsat, w.cpsat_objective, w.bound = msg.roster, msg.objective, msg.bound
            w.solutions += 1
            report = (msg.objective, msg.bound, "cp-sat")
        elif isinstance(msg, ProgressMsg):
            if msg.bound != w.bound:
                w.bound = msg.bound
                report = (w.cpsat_objective, msg.bound, "cp-sat")
        elif isinstance(msg, ResultMsg):
            w.result = msg
            changed = msg.objective != w.cpsat_objective or msg.bound != w.bound
            if msg.roster is not None:
                w.cpsat, w.cpsat_objective = msg.roster, msg.objective
            if msg.bound is not None or msg.status == "infeasible":
                w.bound = msg.bound
            if changed and msg.roster is not None:
                report = (msg.objective, msg.bound, "cp-sat")
        elif isinstance(msg, OomMsg):
            w.oom = msg
        elif isinstance(msg, ErrorMsg):
            w.error = msg
        if report is not None and self._on_progress is not None:
            objective, bound, solver = report
            elapsed = time.monotonic() - w.started
            _guard(self._on_progress, Progress(objective, bound, elapsed, solver))


# --- what happened, and what to return ----------------------------------------------------


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
