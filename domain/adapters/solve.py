"""The SolveFunction of the workers (domain.ports): solve_isolated with the server's limits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from domain.problem import Problem, Solution
from domain.settings import Settings
from domain.solver.runner import Progress, solve_isolated
from domain.solver.warm import WarmChildren

MiB = 1024 * 1024


@dataclass(frozen=True)
class IsolatedSolver:
    """Runs each solve in a resource-limited child process (DESIGN.md section 6)."""

    memory_limit_bytes: int  # RLIMIT_AS of the child; 0 = none
    workers: int  # CP-SAT search workers
    max_time_limit: float
    # One solver child started ahead per process (domain/solver/warm.py), once `prestart` has
    # been called: a worker's pool process calls it when it starts; other processes never
    # solve, and pay nothing.
    warm: WarmChildren = field(default_factory=WarmChildren, compare=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> IsolatedSolver:
        return cls(
            memory_limit_bytes=settings.solver_memory_limit_mib * MiB,
            workers=settings.solver_workers,
            max_time_limit=settings.max_time_limit_seconds,
        )

    def __call__(
        self,
        problem: Problem,
        *,
        on_progress: Callable[[Progress], None],
        should_cancel: Callable[[], bool],
    ) -> Solution:
        # submit_job caps the time limit already; capping again here keeps the task's time
        # limits (domain.adapters.celery_config) valid for a job stored by any other path.
        time_limit = min(problem.options.time_limit_seconds, self.max_time_limit)
        return solve_isolated(
            problem,
            time_limit=time_limit,
            memory_limit_bytes=self.memory_limit_bytes,
            workers=self.workers,
            fallback=problem.options.fallback,
            on_progress=on_progress,
            should_cancel=should_cancel,
            warm=self.warm,
        )

    def prestart(self) -> None:
        """Keep a spare solver child from now on (a worker's pool process, at its start)."""
        self.warm.prestart()

    def close(self) -> None:
        """Stop the spare child, if any (process shutdown)."""
        self.warm.close()
