"""A solver child started ahead of time: the next solve skips the interpreter's start-up.

A cold child spends about a second importing ortools before it reads its problem (1.4 s on
the benchmark machine under load), which is most of a small solve: Curtois Instance1 takes
2-3 s from submission to `succeeded` cold. A worker therefore keeps one spare child per pool
process (`python -m domain.solver.child --spare`): it has done its imports and waits on stdin
for its job line and problem (domain/solver/child.py). `solve_isolated` takes the spare when
one is ready and starts the next one as it finishes, so the import overlaps the idle time
between two jobs.

The isolation is the same as a cold child's: one fresh interpreter per solve, its own memory
limit (set when the job arrives), killed by the parent at its deadline. A spare is dropped and
replaced when it has died meanwhile or when the environment it would get has changed (tests
set the fault hook there). An idle spare costs one interpreter with ortools loaded (about
100 MB resident) per pool process; it exits when its parent does (end of file on stdin).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from domain.solver.child import FAULT_ENV

logger = logging.getLogger(__name__)

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


def child_env() -> dict[str, str]:
    """The environment of a solver child, from this process's."""
    env = {k: v for k, v in os.environ.items() if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)}
    return {**env, **_CHILD_ENV}


@dataclass
class Spare:
    """A started child waiting for its job: the process and our end of its protocol pipe."""

    proc: subprocess.Popen[bytes]
    read_fd: int
    env: dict[str, str]

    def discard(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        os.close(self.read_fd)
        for stream in (self.proc.stdin, self.proc.stderr):
            if stream is not None:
                stream.close()


def spawn(argv: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start `python -m domain.solver.child` with `argv` and a protocol pipe appended as
    `--fd`; the process and the pipe's read end. Raises OSError when no process can start."""
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "domain.solver.child", *argv, "--fd", str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(write_fd,),
            cwd=_ROOT,
            env=env,
        )
    except OSError:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return proc, read_fd


class WarmChildren:
    """At most one spare solver child, for one process that runs solves one at a time.

    Inactive until the first `prestart`: a process that never solves (the API shares the
    workers' container) never starts one."""

    def __init__(self) -> None:
        self._spare: Spare | None = None
        self._lock = threading.Lock()
        self.active = False
        self._closed = False

    def prestart(self) -> None:
        """Start a spare unless one is waiting already; a failure only costs the speed-up."""
        env = child_env()
        with self._lock:
            if self._closed:  # a solve that was running at shutdown starts no new spare
                return
            self.active = True
            if self._spare is not None and self._spare.proc.poll() is None:
                return
            self._drop()
            try:
                proc, read_fd = spawn(["--spare"], env)
            except OSError as exc:
                logger.warning("could not start a spare solver child: %s", exc)
                return
            self._spare = Spare(proc, read_fd, env)

    def replenish(self) -> None:
        """Start the next spare, if spares are kept (a solve has just taken one or begun)."""
        if self.active:
            self.prestart()

    def take(self, env: dict[str, str]) -> Spare | None:
        """The waiting spare, if it is alive and was started with `env` (the environment a
        cold child would get now); it is the caller's from now on (to feed, supervise and
        reap). None while spares are not kept."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.proc.poll() is not None or spare.env != env:
            spare.discard()
            return None
        return spare

    def close(self) -> None:
        """Stop the waiting spare, and start no more (process shutdown)."""
        with self._lock:
            self.active = False
            self._closed = True
            self._drop()

    def _drop(self) -> None:
        if self._spare is not None:
            self._spare.discard()
            self._spare = None
