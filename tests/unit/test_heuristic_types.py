"""The run table of the heuristic's row builder (`heuristic_types.run_values`): the best value
of every run of work under the rotation rule, built with numpy and, where numpy cannot be
loaded, in plain Python; both must give the same floats."""

from __future__ import annotations

import itertools
import random
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from domain.solver import heuristic_types
from domain.solver.heuristic_pattern import NEG
from domain.solver.heuristic_types import FROZEN, run_values, run_values_python


def random_case(rng: random.Random, n_days: int, n_types: int):
    """An employee who may work `n_types` types, at least one succession forbidden, and the
    gains of a frame of `n_days` days (some days not workable, some types pinned)."""
    while True:
        follows = [[rng.random() < 0.6 for _ in range(n_types)] for _ in range(n_types)]
        if not all(all(row) for row in follows):
            break
    st = SimpleNamespace(
        allowed=[list(range(n_types))],
        max_run=[rng.randint(1, 7)],
        follows=follows,
    )
    gains: list[list[float] | None] = []
    for _ in range(n_days):
        if rng.random() < 0.15:
            gains.append(None)
        elif rng.random() < 0.1:  # a day whose type is fixed
            fixed = rng.randrange(n_types)
            gains.append([FROZEN if t == fixed else NEG for t in range(n_types)])
        else:
            gains.append([rng.uniform(-120, 100) for _ in range(n_types)])
    return st, gains


def python_table(st, gains):
    allowed = st.allowed[0]
    ok = [[st.follows[a][b] for b in allowed] for a in allowed]
    preds = [[i for i in range(len(allowed)) if ok[i][j]] for j in range(len(allowed))]
    return run_values_python(gains, min(st.max_run[0], len(gains)), ok, preds)


def test_the_numpy_run_table_equals_the_plain_python_one():
    assert heuristic_types._numpy() is not None  # no address-space limit here
    rng = random.Random(11)
    for _ in range(300):
        st, gains = random_case(rng, rng.randint(1, 60), rng.randint(2, 6))
        assert run_values(st, 0, gains) == python_table(st, gains)


def test_run_values_are_the_best_sums_over_legal_type_sequences():
    rng = random.Random(5)
    for _ in range(150):
        n_types = rng.randint(2, 3)
        st, gains = random_case(rng, rng.randint(1, 7), n_types)
        table = run_values(st, 0, gains)
        assert table is not None
        for i, row in enumerate(table):
            # A run holds only workable days: the row ends at the first day that is not.
            reach = 0
            while i + reach < len(gains) and gains[i + reach] is not None:
                reach += 1
            assert len(row) == min(reach, st.max_run[0])
            for k, value in enumerate(row):
                legal = [
                    sum(gains[i + t][s] for t, s in enumerate(seq))  # type: ignore[index]
                    for seq in itertools.product(range(n_types), repeat=k + 1)
                    if all(st.follows[a][b] for a, b in itertools.pairwise(seq))
                ]
                assert value == pytest.approx(max(legal, default=NEG))


def test_without_numpy_the_table_is_built_in_python(monkeypatch):
    monkeypatch.setattr(heuristic_types, "_numpy", lambda: None)  # as under a tight limit
    rng = random.Random(2)
    st, gains = random_case(rng, 40, 4)
    table = run_values(st, 0, gains)
    assert table == python_table(st, gains)
    monkeypatch.setattr(heuristic_types, "run_values_python", lambda *a: "python")
    assert run_values(st, 0, gains) == "python"


def test_no_table_when_every_succession_is_allowed_or_it_would_be_too_big():
    rng = random.Random(4)
    st, gains = random_case(rng, 30, 3)
    free = SimpleNamespace(allowed=st.allowed, max_run=st.max_run, follows=[[True] * 3] * 3)
    assert run_values(free, 0, gains) is None
    huge = [[0.0] * 3 for _ in range(heuristic_types.RUN_TABLE_LIMIT // 9 + 1)]
    wide = SimpleNamespace(allowed=st.allowed, max_run=[1], follows=st.follows)
    assert run_values(wide, 0, huge) is None


def test_numpy_is_not_imported_under_a_tight_address_space_limit():
    # Under a small RLIMIT_AS, OpenBLAS ends the process instead of raising: the table must
    # then come from plain Python, without numpy ever being imported.
    code = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (300 << 20, 300 << 20))\n"
        "from types import SimpleNamespace\n"
        "from domain.solver import heuristic_types as h\n"
        "follows = [[True, False], [True, True]]\n"
        "st = SimpleNamespace(allowed=[[0, 1]], max_run=[3], follows=follows)\n"
        "table = h.run_values(st, 0, [[1.0, 2.0]] * 5)\n"
        "print(h._numpy() is None, 'numpy' in sys.modules, table[0])\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60
    )
    assert done.returncode == 0, done.stderr
    # Type 1 may not follow type 0; the best run of three days works type 1 throughout.
    assert done.stdout.strip().split(maxsplit=2) == ["True", "False", "[2.0, 4.0, 6.0]"]
