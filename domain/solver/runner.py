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
  first, else a heuristic roster computed in this process.

This module does the supervising; `domain.solver.outcome` turns what it observed (a `_Watch`)
into the outcome and the `Solution`.

A fresh interpreter via `subprocess.Popen`, not `multiprocessing`: Celery's prefork pool
children are daemonic and may not have children of their own through multiprocessing, and a
forked copy of a worker would inherit its memory and threads.
"""

from __future__ import annotations

import logging
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from domain.problem import Problem, Solution, encode
from domain.solver.child import (
    ErrorMsg,
    OomMsg,
    ProgressMsg,
    ResultMsg,
    SolutionMsg,
    SpareJob,
    message_decoder,
    spare_job_encoder,
)
from domain.solver.instance import compile_problem
from domain.solver.outcome import _classify, _solution, _Watch
from domain.solver.warm import WarmChildren, child_env, spawn

logger = logging.getLogger(__name__)

GiB = 1024**3
DEFAULT_MEMORY_LIMIT = 2 * GiB
DEFAULT_GRACE = 5.0
DEFAULT_WORKERS = 8

POLL_INTERVAL = 0.2  # seconds between two should_cancel() polls
TERM_WAIT = 0.5  # seconds between SIGTERM and SIGKILL
REAP_WAIT = 2.0  # seconds to wait for a SIGKILLed child to be reaped before giving up on it
MAX_LINE = 256 * 1024**2  # a protocol line longer than this is a protocol error


@dataclass(frozen=True)
class Progress:
    """One step of a running solve, for `on_progress`."""

    objective: int | None  # best objective so far (the heuristic's, then CP-SAT's)
    bound: int | None  # best lower bound CP-SAT has proven so far
    elapsed: float  # seconds since solve_isolated was called
    solver: str  # "heuristic" | "cp-sat"


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
    warm: WarmChildren | None = None,
) -> Solution:
    """Solve a *validated* problem in a child process; always returns a `Solution`.

    Wall time stays within `time_limit + grace` (plus the heuristic fallback only when the
    child produced nothing at all); `memory_limit_bytes` is the child's RLIMIT_AS (0 = none).
    With `warm`, the child is its waiting spare when there is one, and a new spare is started
    at once for the next call (domain/solver/warm.py).
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
        warm=warm,
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
    warm: WarmChildren | None,
) -> None:
    kill_at = watch.started + limit + grace
    term_at = kill_at - min(TERM_WAIT, grace / 2)
    # The child's clock starts later than ours: give it what is left of the time limit.
    child_limit = max(limit - (time.monotonic() - watch.started), 0.1)
    job = SpareJob(
        # An instant, not a duration: a spare still importing when it gets its job must not
        # start a full time limit once it is done (CLOCK_MONOTONIC is shared by processes).
        deadline=time.monotonic() + child_limit,
        memory_limit=int(memory_limit),
        workers=int(workers),
        seed=problem.options.seed or 0,
    )
    env = child_env()
    spare = warm.take(env) if warm is not None else None
    if spare is not None:
        proc, read_fd = spare.proc, spare.read_fd
        chunks = [spare_job_encoder.encode(job) + b"\n", encode(problem)]
    else:
        argv = [
            *("--time-limit", repr(child_limit), "--memory-limit", str(job.memory_limit)),
            *("--workers", str(job.workers), "--seed", str(job.seed)),
        ]
        try:
            proc, read_fd = spawn(argv, env)
        except OSError as exc:  # EAGAIN, ENOMEM: the machine could not start a process
            watch.spawn_error = f"{type(exc).__name__}: {exc}"
            return
        chunks = [encode(problem)]
    if warm is not None:
        # The next solve's child imports ortools while this one runs: jobs that come back to
        # back then all find a spare ready (started after this solve, it was not, measured).
        warm.replenish()

    watch.pid = proc.pid
    assert proc.stdin is not None
    assert proc.stderr is not None
    feeder = threading.Thread(
        target=_feed, args=(proc.stdin, chunks), name="solver-stdin", daemon=True
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


def _feed(stream: Any, chunks: list[bytes]) -> None:
    try:
        for chunk in chunks:
            stream.write(chunk)
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
