"""A spare solver child started ahead (domain/solver/warm.py) solves exactly like a cold one,
keeps its isolation, and never outlives its use: real child processes throughout."""

from __future__ import annotations

import argparse
import io
import sys
import time

import pytest

from domain.solver import child
from domain.solver.child import FAULT_ENV
from domain.solver.runner import solve_isolated
from domain.solver.warm import WarmChildren
from tests.unit.test_runner import (
    MEDIUM,
    SMALL,
    MiB,
    Recorder,
    assert_evaluated,
    assert_reaped,
    open_fds,
)


@pytest.fixture
def warm():
    children = WarmChildren()
    children.prestart()
    yield children
    children.close()


def spare_pid(children: WarmChildren) -> int:
    assert children._spare is not None
    return children._spare.proc.pid


def test_the_spare_is_the_child_that_solves_and_a_new_one_waits_after(warm):
    first = spare_pid(warm)
    rec = Recorder()
    solution = solve_isolated(SMALL, warm=warm, on_start=rec.on_start)

    assert rec.pid == first
    assert solution.status == "optimal"
    assert solution.solver == "cp-sat"
    assert_evaluated(SMALL, solution)
    assert_reaped(first)
    assert spare_pid(warm) != first  # the next job's child is already starting
    assert warm._spare is not None
    assert warm._spare.proc.poll() is None


def test_a_spare_proves_the_same_optimum_as_a_cold_child(warm):
    cold = solve_isolated(SMALL)
    hot = solve_isolated(SMALL, warm=warm)
    assert hot.status == cold.status == "optimal"
    assert hot.objective == cold.objective
    assert_evaluated(SMALL, hot)


def test_a_spare_that_died_while_waiting_is_replaced_by_a_cold_child(warm):
    dead = spare_pid(warm)
    warm._spare.proc.kill()
    warm._spare.proc.wait()
    rec = Recorder()
    solution = solve_isolated(SMALL, warm=warm, on_start=rec.on_start)
    assert rec.pid not in (None, dead)
    assert solution.status == "optimal"


def test_a_spare_started_in_another_environment_is_not_used(warm, monkeypatch):
    # The fault hook is read from the environment: a spare made before it was set must not
    # stand in for the child the caller asked for.
    stale = spare_pid(warm)
    monkeypatch.setenv(FAULT_ENV, "crash")
    rec = Recorder()
    solution = solve_isolated(SMALL, warm=warm, on_start=rec.on_start)
    assert rec.pid != stale
    assert solution.stats["outcome"] == "crash"
    assert_reaped(stale)


def test_a_spare_obeys_the_memory_limit_of_its_job(warm):
    # As test_runner's 300 MB case: too little for CP-SAT; the spare gets the limit with its
    # job, after its imports, and still ends out of memory, not the caller.
    solution = solve_isolated(MEDIUM, time_limit=30, memory_limit_bytes=300 * MiB, warm=warm)
    assert solution.stats["outcome"] == "out_of_memory"
    assert solution.solver == "heuristic"
    assert_evaluated(MEDIUM, solution)


def test_a_hanging_spare_is_killed_at_the_deadline(monkeypatch):
    monkeypatch.setenv(FAULT_ENV, "hang")  # before the spare starts: it inherits the hook
    children = WarmChildren()
    children.prestart()
    try:
        rec = Recorder()
        solution = solve_isolated(
            SMALL, time_limit=2, grace=1, warm=children, on_start=rec.on_start
        )
        # How close to the deadline is test_runner's and `make bench-isolation`'s business;
        # here: the parent, not the child, ended it.
        assert solution.stats["outcome"] == "timeout"
        assert solution.solver == "heuristic"  # streamed before the hang
        assert_reaped(rec.pid)
    finally:
        children.close()


def test_close_stops_the_spare_and_leaves_no_descriptor_behind():
    fds = open_fds()
    children = WarmChildren()
    children.prestart()
    pid = spare_pid(children)
    children.close()
    assert_reaped(pid)
    assert open_fds() == fds
    assert not children.active


def test_without_prestart_every_solve_starts_a_cold_child_and_leaves_no_spare():
    children = WarmChildren()
    solution = solve_isolated(SMALL, warm=children)
    assert solution.status == "optimal"
    assert children._spare is None


def test_a_spare_that_gets_its_job_late_keeps_the_callers_deadline(monkeypatch):
    # The job carries an instant: a spare that finished importing only now solves for what
    # is left of the caller's limit, not for a whole new one.
    job = child.SpareJob(deadline=time.monotonic() + 1.0, memory_limit=0, workers=2, seed=7)
    line = child.spare_job_encoder.encode(job) + b"\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(line)))
    args = argparse.Namespace(time_limit=None, memory_limit=None, workers=8, seed=0)
    time.sleep(0.3)  # the import ran late
    assert child._wait_for_job(args)
    assert 0.1 <= args.time_limit <= 0.75
    assert (args.workers, args.seed, args.memory_limit) == (2, 7, 0)


def test_a_spare_whose_parent_went_away_before_its_job_exits_quietly(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert not child._wait_for_job(argparse.Namespace())


def test_after_close_no_spare_is_started_again():
    # A solve still running at shutdown asks for the next spare: it must not get one.
    children = WarmChildren()
    children.prestart()
    children.close()
    children.prestart()
    assert children._spare is None
