"""The result cache key: a hash of everything that can change the answer to a problem.

Two submissions share a key exactly when the solver would be asked the same question: the same
problem and the options that steer the search (time limit, seed, fallback). The problem's
`name` and `options.use_cache` change nothing, so they are left out. The key also carries a
version, bumped whenever the solver or the schema changes what an answer means, so stale
entries are never served after an upgrade.
"""

from __future__ import annotations

import hashlib

import msgspec

from domain.problem import Problem

# Bump when a solver or evaluator change makes old cached solutions wrong or worse.
CACHE_VERSION = "v1"

# `order="sorted"` sorts the keys of every object, so the same problem always has the same bytes
# (msgspec dicts keep insertion order otherwise: {"a":1,"b":2} and {"b":2,"a":1} would differ).
_canonical = msgspec.json.Encoder(order="sorted")


def cache_key(problem: Problem) -> str:
    """`rota:solution:v1:<sha256>` of the canonical problem and its answer-changing options."""
    options = problem.options
    question = msgspec.structs.replace(
        problem,
        name=None,
        options=msgspec.structs.replace(options, use_cache=True),
    )
    digest = hashlib.sha256(_canonical.encode(question)).hexdigest()
    return f"rota:solution:{CACHE_VERSION}:{digest}"
