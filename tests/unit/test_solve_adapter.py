"""IsolatedSolver: the server's limits applied to every solve (domain.adapters.solve).

`solve_isolated` itself is tested in test_runner.py; here a stand-in records what it is asked.
"""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from domain.adapters import solve as solve_module
from domain.adapters.solve import IsolatedSolver, MiB
from domain.problem import problem_decoder
from domain.settings import Settings

SAMPLE = Path(__file__).parents[2] / "domain" / "samples" / "sample.json"


@pytest.fixture
def calls(monkeypatch) -> list[dict]:
    seen: list[dict] = []

    def record(problem, **kwargs):
        seen.append(kwargs)
        return "solution"

    monkeypatch.setattr(solve_module, "solve_isolated", record)
    return seen


def problem(time_limit: float, *, fallback: bool = True):
    sample = problem_decoder.decode(SAMPLE.read_bytes())
    options = msgspec.structs.replace(
        sample.options, time_limit_seconds=time_limit, fallback=fallback
    )
    return msgspec.structs.replace(sample, options=options)


def run(solver: IsolatedSolver, p) -> None:
    solver(p, on_progress=lambda _: None, should_cancel=lambda: False)


def test_memory_and_workers_come_from_the_settings(calls):
    solver = IsolatedSolver.from_settings(Settings(solver_memory_limit_mib=512, solver_workers=3))

    run(solver, problem(5.0))

    assert calls[0]["memory_limit_bytes"] == 512 * MiB
    assert calls[0]["workers"] == 3


def test_a_zero_memory_setting_means_no_limit(calls):
    run(IsolatedSolver.from_settings(Settings(solver_memory_limit_mib=0)), problem(5.0))

    assert calls[0]["memory_limit_bytes"] == 0


def test_the_time_limit_is_capped_by_the_server(calls):
    solver = IsolatedSolver.from_settings(Settings(max_time_limit_seconds=30.0))

    run(solver, problem(5.0))
    run(solver, problem(300.0))

    assert [c["time_limit"] for c in calls] == [5.0, 30.0]


def test_the_problem_chooses_whether_to_fall_back(calls):
    solver = IsolatedSolver.from_settings(Settings())

    run(solver, problem(5.0, fallback=False))

    assert calls[0]["fallback"] is False
