"""What a benchmark ran on, so that figures from different machines (or days) can be compared.

The solver's figures at a fixed time limit depend on the speed of the machine as much as on
the code: the heuristic, the LNS bookkeeping and the building of every repair model are pure
Python, and CP-SAT shares the same cores. Curtois Instance20 with the same code and seed at
30 s gave 5611 on one 2-core session machine and 6104 on a later one, where building the
full Instance22 model took 4.9 s against the 1.8 s measured on an earlier one. A results
file therefore records the CPU, the cores and `reference_seconds`: the best of three runs of
a fixed pure-Python loop (lower is faster).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

REFERENCE_ITERATIONS = 1_000_000
REFERENCE_RUNS = 3


def reference_seconds() -> float:
    """Seconds this interpreter takes for a fixed loop of arithmetic (best of three runs, so
    a moment of contention does not count)."""
    best = float("inf")
    for _ in range(REFERENCE_RUNS):
        started = time.perf_counter()
        total = 0
        for i in range(REFERENCE_ITERATIONS):
            total += i * i
        best = min(best, time.perf_counter() - started)
    return round(best, 3)


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name (Linux), else what `platform` knows, else "unknown"."""
    try:
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_facts() -> dict[str, object]:
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "reference_seconds": reference_seconds(),
    }
