"""The isolated solver child: `python -m domain.solver.child` (DESIGN.md section 6).

The parent (`runner.py`) starts one fresh interpreter per solve, because a CP-SAT run can
exhaust memory or overrun its time limit, and either must cost a child, never a worker.

Invocation::

    python -m domain.solver.child --fd N --time-limit SECONDS --memory-limit BYTES
                                  [--workers W] [--seed S]  < problem.json
    python -m domain.solver.child --fd N --spare  < job line, then problem.json

A spare (`--spare`, started ahead by `domain.solver.warm`) imports the solver (ortools: about
a second) first, then waits on stdin for one line, a `SpareJob` with the limits and seed, and
the problem after it. Its memory limit is set once that line arrives, so it applies to the
solve but not to the imports: a limit smaller than the loaded interpreter makes the solve's
first allocation fail, which is reported as `oom` like any other.

Protocol: the problem arrives as msgspec JSON on stdin. Every message goes back on the
inherited file descriptor `--fd` (never fd 1 or 2, which native code may print to) as one JSON
object per line, tagged by its "type" field:

* ``solution``: a roster, first the heuristic one (``solver: "heuristic"``), then every
  improving CP-SAT one (``solver: "cp-sat"``);
* ``progress``: a bound-only update, at most about twice a second;
* ``result``: CP-SAT's final status, roster and statistics, sent last before exit code 0;
* ``oom``: a Python ``MemoryError`` (or a library that could not be mapped into the address
  space), sent before exit code `EXIT_OOM`;
* ``error``: any other exception, sent before exit code 1.

Test hook: the environment variable ``ROTA_SOLVER_FAULT`` makes the child misbehave on
purpose right after it has streamed the heuristic roster, so that tests can exercise the
parent's recovery paths with real processes: ``hang`` sleeps forever and ignores SIGTERM (the
parent must escalate to SIGKILL), ``crash`` kills the child with SIGSEGV, ``oom`` allocates and
touches memory until the address-space limit raises ``MemoryError``, ``garbage`` writes a line
that is not a protocol message and waits. Production never sets it.

Only the standard library and msgspec are imported at module level: the parent imports the
message types from here, and the child must set its memory limit before ortools is loaded.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import signal
import sys
import threading
import time
import traceback
from typing import Any, Literal

import msgspec

FAULT_ENV = "ROTA_SOLVER_FAULT"
EXIT_OOM = 3
EXIT_ORPHANED = 4  # the parent closed the protocol pipe: nobody is listening any more

MIN_TIME_LIMIT = 0.1  # seconds a spare that got its job late still solves
BOUND_INTERVAL = 0.5  # seconds between two bound-only progress messages
# The parent's fallback heuristic (outcome.py), run only when the child streamed nothing.
HEURISTIC_SHARE = 0.15
HEURISTIC_MAX_SECONDS = 1.5
# The child's own heuristic, inside its time limit, before CP-SAT starts. Its descent and
# ruin-and-recreate improve a fresh roster far faster than CP-SAT windows do (measured on
# Curtois, 1.5 s -> 5 s of heuristic: Instance5 1586 -> 1286, Instance8 3104 -> 2198,
# Instance20 8647 -> 6834), and it stops on its own once it stalls (about 2.5 s on the
# 14-day instances). On large instances it gets a bigger share: there CP-SAT only ever sees
# windows, and the heuristic's whole-row re-plans keep paying for longer (Instance22 after
# 30 s: 40.5k with 8 s of heuristic, 39.2k with 14 s, 43.2k with 1.5 s).
SEARCH_HEURISTIC_SHARE = 0.15
SEARCH_HEURISTIC_MAX_SECONDS = 5.0
# ... and on tiny problems (up to TINY_CELLS cells) never more than this per cell: there
# CP-SAT proves the optimum from any reasonable hint at once, and the rest of the heuristic's
# budget was pure latency (Curtois Instance1, 112 cells: the heuristic took 1.4 s of a 1.9 s
# solve, CP-SAT 0.35 s; with 0.28 s the 30 s benchmark proves it optimal in 1.9 s, not 2.7).
# Measured with the cap on every size (30 s limit): Instance2 (392 cells, 0.98 s of heuristic)
# proved in 16.7 s against 18.4 s, Instance4 (560) kept its 0.4 % gap, but Instance3 (840)
# took 18 s instead of 9 s to prove; so larger problems keep the full budget.
TINY_CELLS = 500
HEURISTIC_SECONDS_PER_CELL = 0.0025
LARGE_HEURISTIC_SHARE = 0.35
LARGE_CELLS = 20_000  # employees x days x shift types; as cpsat.FULL_MODEL_MAX_CELLS


def heuristic_budget(cells: int, time_limit: float) -> float:
    """Seconds of the child's time limit given to the heuristic."""
    if cells > LARGE_CELLS:
        return LARGE_HEURISTIC_SHARE * time_limit
    budget = min(SEARCH_HEURISTIC_MAX_SECONDS, SEARCH_HEURISTIC_SHARE * time_limit)
    if cells <= TINY_CELLS:
        budget = min(budget, HEURISTIC_SECONDS_PER_CELL * cells)
    return budget


# Exception texts that mean the address space ran out under RLIMIT_AS (measured): a shared
# library (libortools, libhighs, pandas extensions) that cannot be mapped raises ImportError
# "failed to map segment"; a CP-SAT worker thread whose stack cannot be mapped raises
# RuntimeError "Resource temporarily unavailable" (EAGAIN from pthread_create).
_OOM_TEXTS = (
    "failed to map segment",
    "cannot allocate memory",
    "resource temporarily unavailable",
    "bad_alloc",
)


class Message(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """Base of the protocol messages (one JSON object per line on the protocol fd)."""


class SolutionMsg(Message, tag="solution"):
    solver: Literal["heuristic", "cp-sat"]
    objective: int
    bound: int | None
    elapsed: float  # seconds since the child started
    roster: list[list[int]]


class ProgressMsg(Message, tag="progress"):
    objective: int
    bound: int
    elapsed: float


class ResultMsg(Message, tag="result"):
    status: str  # CpsatResult.status
    objective: int | None
    bound: int | None
    wall_time: float
    roster: list[list[int]] | None
    stats: dict[str, Any] = {}


class OomMsg(Message, tag="oom"):
    phase: str
    detail: str = ""


class ErrorMsg(Message, tag="error"):
    phase: str
    kind: str  # exception class name
    detail: str = ""


AnyMessage = SolutionMsg | ProgressMsg | ResultMsg | OomMsg | ErrorMsg


def _enc_hook(obj: object) -> object:
    # CP-SAT statistics may hold numpy scalars; anything else unknown is sent as text.
    index = getattr(obj, "__index__", None)
    return index() if index is not None else str(obj)


message_encoder = msgspec.json.Encoder(enc_hook=_enc_hook)
message_decoder = msgspec.json.Decoder(AnyMessage)


class _Channel:
    """Writes whole lines to the protocol fd; CP-SAT calls back from its own threads."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._lock = threading.Lock()

    def send(self, message: Message) -> None:
        view = memoryview(message_encoder.encode(message) + b"\n")
        with self._lock:
            try:
                while view:
                    view = view[os.write(self.fd, view) :]
            except BrokenPipeError:
                os._exit(EXIT_ORPHANED)


def _limit_resources(memory_limit: int) -> None:
    if memory_limit > 0:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_limit if hard == resource.RLIM_INFINITY else min(memory_limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    # A core dump of a 2 GiB solver is useless to us and slow to write.
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m domain.solver.child")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--spare", action="store_true", help="import first, then read the job")
    parser.add_argument("--time-limit", type=float)
    parser.add_argument("--memory-limit", type=int)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not args.spare and (args.time_limit is None or args.memory_limit is None):
        parser.error("--time-limit and --memory-limit are required without --spare")
    return args


def _wait_for_job(args: argparse.Namespace) -> bool:
    """A spare: load the solver, then read the job line; False when the parent went away."""
    import domain.solver.cpsat
    import domain.solver.heuristic  # noqa: F401

    line = sys.stdin.buffer.readline()
    if not line:
        return False
    job = msgspec.json.decode(line, type=SpareJob)
    args.time_limit = max(job.deadline - time.monotonic(), MIN_TIME_LIMIT)
    args.memory_limit = job.memory_limit
    args.workers, args.seed = job.workers, job.seed
    return True


class SpareJob(msgspec.Struct, forbid_unknown_fields=True):
    """The first line a spare reads: what a cold child gets as arguments, with the time
    limit as a deadline on the machine's monotonic clock."""

    deadline: float
    memory_limit: int
    workers: int
    seed: int


spare_job_encoder = msgspec.json.Encoder()


class _Phase:
    name = "starting"


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    if args.spare and not _wait_for_job(args):
        return EXIT_ORPHANED
    # First thing (of a cold child): cap the address space before ortools and numpy map
    # their libraries.
    _limit_resources(args.memory_limit)
    # Native code (OR-Tools, OpenBLAS) may print to fd 1; make that the stderr the parent
    # reads, so nothing can ever be mistaken for a protocol message.
    os.dup2(2, 1)
    started = time.monotonic()
    channel = _Channel(args.fd)
    phase = _Phase()
    oom: str | None = None
    try:
        _solve(args, channel, phase, started)
        return 0
    except MemoryError as exc:
        oom = f"MemoryError: {exc}"
    except Exception as exc:
        if not any(text in str(exc).lower() for text in _OOM_TEXTS):
            return _report_error(channel, phase, exc)
        oom = f"{type(exc).__name__}: {exc}"
    # Outside the except block the traceback, and with it whatever the failed frames held,
    # has been released, so there is memory to encode the report.
    with contextlib.suppress(MemoryError):
        channel.send(OomMsg(phase=phase.name, detail=oom[:500]))
    return EXIT_OOM


def _report_error(channel: _Channel, phase: _Phase, exc: BaseException) -> int:
    traceback.print_exception(exc, file=sys.stderr)
    channel.send(ErrorMsg(phase=phase.name, kind=type(exc).__name__, detail=str(exc)[:500]))
    return 1


def _solve(args: argparse.Namespace, channel: _Channel, phase: _Phase, started: float) -> None:
    from domain.problem import problem_decoder
    from domain.solver.evaluator import evaluate
    from domain.solver.heuristic import solve_heuristic
    from domain.solver.instance import compile_problem

    phase.name = "reading"
    problem = problem_decoder.decode(sys.stdin.buffer.read())
    instance = compile_problem(problem)

    phase.name = "heuristic"
    cells = instance.n_employees * instance.days * instance.n_shifts
    budget = heuristic_budget(cells, args.time_limit)
    roster = solve_heuristic(instance, time_limit=budget, seed=args.seed)
    objective = evaluate(problem, instance.assignments(roster)).objective
    channel.send(
        SolutionMsg(
            solver="heuristic",
            objective=objective,
            bound=None,
            elapsed=time.monotonic() - started,
            roster=roster,
        )
    )

    phase.name = "cp-sat"
    _inject_fault(os.environ.get(FAULT_ENV, ""), channel)
    from domain.solver.cpsat import CpsatProgress, solve_cpsat

    best: list[int | None] = [None]  # best objective sent so far
    last_bound: list[tuple[float, int | None]] = [(0.0, None)]  # (when sent, bound)

    def on_solution(p: CpsatProgress) -> None:
        elapsed = time.monotonic() - started
        if best[0] is None or p.objective < best[0]:
            best[0] = p.objective
            last_bound[0] = (elapsed, p.bound)
            channel.send(
                SolutionMsg(
                    solver="cp-sat",
                    objective=p.objective,
                    bound=p.bound,
                    elapsed=elapsed,
                    roster=p.roster,
                )
            )
        elif p.bound != last_bound[0][1] and elapsed - last_bound[0][0] >= BOUND_INTERVAL:
            last_bound[0] = (elapsed, p.bound)
            channel.send(ProgressMsg(objective=best[0], bound=p.bound, elapsed=elapsed))

    remaining = args.time_limit - (time.monotonic() - started)
    result = solve_cpsat(
        instance,
        time_limit=max(remaining, 0.1),
        workers=args.workers,
        seed=args.seed,
        hint=roster,
        on_solution=on_solution,
    )
    phase.name = "reporting"
    channel.send(
        ResultMsg(
            status=result.status,
            objective=result.objective,
            bound=result.bound,
            wall_time=result.wall_time,
            roster=result.roster,
            stats=dict(result.stats),
        )
    )


def _inject_fault(fault: str, channel: _Channel) -> None:
    """The test hook described in the module docstring."""
    if fault == "garbage":
        os.write(channel.fd, b"this is not a protocol message\n")
        time.sleep(3600)
    elif fault == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(3600)
    elif fault == "crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    elif fault == "oom":
        chunk = 32 * 1024**2
        hoard = []
        while True:  # touch every page so the memory is real, not just reserved
            block = bytearray(chunk)
            block[:: resource.getpagesize()] = b"\x01" * (chunk // resource.getpagesize())
            hoard.append(block)


if __name__ == "__main__":
    sys.exit(main())
