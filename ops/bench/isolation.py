"""Isolation limits of the solver child (DESIGN.md section 6), measured through the CLI.

1. A solve asked for 5 s of the biggest instance returns within 5 s + grace (5 s), 3 times.
2. A solve under a tiny memory limit (300 MiB) ends in the heuristic roster, and the process
   that asked survives to print it.

Usage: python ops/bench/isolation.py [CURTOIS_DIR]   (run by `make bench-isolation`)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

ROTA = Path(sys.executable).with_name("rota")


def solve(path: Path, *args: str) -> tuple[float, dict]:
    started = time.monotonic()
    out = subprocess.run(
        [str(ROTA), "solve", str(path), "--json", *args], capture_output=True, check=True
    )
    return time.monotonic() - started, json.loads(out.stdout)


def summary(solution: dict) -> str:
    stats = solution["stats"]
    return (
        f"solver={solution['solver']} outcome={stats.get('outcome')} "
        f"objective={solution['objective']} violations={len(solution.get('hard_violations', []))} "
        f"reason={stats.get('fallback_reason')!r}"
    )


def main() -> int:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/bench/curtois")
    worst = 0.0
    for run in (1, 2, 3):
        wall, solution = solve(folder / "Instance22.txt", "--time-limit", "5")
        worst = max(worst, wall)
        print(
            f"time limit 5 s, run {run}: {wall:.2f} s wall (CLI start-up included), "
            f"{summary(solution)}",
            flush=True,
        )
    print(f"worst wall time {worst:.2f} s against a limit of 5 + 5 s grace")
    wall, solution = solve(folder / "Instance10.txt", "--time-limit", "10", "--memory-limit", "300")
    print(f"memory limit 300 MiB: caller alive after {wall:.2f} s, {summary(solution)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
