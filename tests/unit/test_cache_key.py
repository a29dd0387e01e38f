"""The result cache key changes exactly when the answer can change."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from domain.problem import problem_decoder
from domain.solver.cache_key import cache_key

SAMPLE = Path(__file__).parents[2] / "domain" / "samples" / "sample.json"


@pytest.fixture
def problem():
    return problem_decoder.decode(SAMPLE.read_bytes())


def with_options(problem, **changes):
    return msgspec.structs.replace(
        problem, options=msgspec.structs.replace(problem.options, **changes)
    )


def test_name_and_use_cache_do_not_change_the_key(problem):
    renamed = msgspec.structs.replace(problem, name="another name")
    assert cache_key(renamed) == cache_key(problem)
    assert cache_key(with_options(problem, use_cache=False)) == cache_key(problem)


@pytest.mark.parametrize("changes", [{"time_limit_seconds": 3.0}, {"seed": 7}, {"fallback": False}])
def test_options_that_steer_the_search_change_the_key(problem, changes):
    assert cache_key(with_options(problem, **changes)) != cache_key(problem)


def test_a_changed_rule_changes_the_key(problem):
    first = problem.employees[0]
    changed = msgspec.structs.replace(first, max_weekends=(first.max_weekends or 0) + 1)
    other = msgspec.structs.replace(problem, employees=[changed, *problem.employees[1:]])
    assert cache_key(other) != cache_key(problem)


def test_key_order_inside_json_objects_does_not_matter(problem):
    first = problem.employees[0]
    one = msgspec.structs.replace(first, max_shifts={"N": 4, "D": 9})
    two = msgspec.structs.replace(first, max_shifts={"D": 9, "N": 4})
    a = msgspec.structs.replace(problem, employees=[one, *problem.employees[1:]])
    b = msgspec.structs.replace(problem, employees=[two, *problem.employees[1:]])
    assert msgspec.json.encode(a) != msgspec.json.encode(b)
    assert cache_key(a) == cache_key(b)
