"""`rota bench curtois`: solve benchmark instances one after another and tabulate the results.

Each instance goes through `solve_isolated`, exactly as a job would, so the table measures the
whole solve path (child process, limits, fallback) and not the CP-SAT model alone. Rows are
printed as they finish and the results file is rewritten after each, so an interrupted run
keeps what it measured.

The search is randomised and its outcome on the 4-week instances is often one of two basins a
hole apart (Instance6: 1956-1963 or 2043-2051 at 30 s), so one run per instance says little:
`--seeds 0,1,2` solves each instance once per seed and adds a line per instance with the mean,
the lowest and the highest objective. The results file records the machine too
(`domain/cli/machine.py`): at a fixed time limit the figures depend on its speed.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from msgspec.structs import replace

from domain.cli.files import UsageError, load_problem, pretty_json, write_text
from domain.cli.machine import machine_facts
from domain.cli.render import ProgressLine
from domain.problem import Problem, Solution

BEST_KNOWN_FILE = "best_known.tsv"
_INSTANCE = re.compile(r"Instance(\d+)\.txt")


@dataclass(frozen=True)
class BestKnown:
    upper_bound: int
    lower_bound: int | None


@dataclass(frozen=True)
class BenchRow:
    instance: str
    employees: int
    days: int
    shift_types: int
    objective: int | None
    best_known: int | None
    gap_percent: float | None  # (objective - best_known) / best_known, in percent
    lower_bound: int | None
    status: str
    solver: str
    seconds: float
    hard_violations: int
    fallback_reason: str | None
    seed: int = 0

    @property
    def size(self) -> str:
        return f"{self.employees}x{self.days}x{self.shift_types}"


# (header, width, cell) per column, in table order.
_COLUMNS: tuple[tuple[str, int, Callable[[BenchRow], object]], ...] = (
    ("instance", 10, lambda r: r.instance),
    ("size", 10, lambda r: r.size),
    ("objective", 9, lambda r: r.objective),
    ("best", 7, lambda r: r.best_known),
    ("gap%", 7, lambda r: None if r.gap_percent is None else f"{r.gap_percent:.1f}"),
    ("bound", 7, lambda r: r.lower_bound),
    ("status", 8, lambda r: r.status),
    ("solver", 9, lambda r: r.solver),
    ("seconds", 7, lambda r: f"{r.seconds:.1f}"),
    ("hard", 4, lambda r: r.hard_violations),
    ("seed", 4, lambda r: r.seed),
)


def table_header() -> str:
    head = "  ".join(
        f"{name:<{w}}" if i < 2 else f"{name:>{w}}" for i, (name, w, _) in enumerate(_COLUMNS)
    )
    return f"{head}\n{'-' * len(head)}"


def table_row(row: BenchRow) -> str:
    cells = []
    for i, (_, width, cell) in enumerate(_COLUMNS):
        value = cell(row)
        text = "-" if value is None else str(value)
        cells.append(f"{text:<{width}}" if i < 2 else f"{text:>{width}}")
    return "  ".join(cells)


def instance_number(path: Path) -> int:
    match = _INSTANCE.fullmatch(path.name)
    return int(match[1]) if match else -1


def find_instances(directory: Path, numbers: list[int] | None) -> list[Path]:
    """Instance{N}.txt files of `directory`: the ones asked for, or all, by number."""
    if not directory.is_dir():
        raise UsageError(f"{directory}: no such directory")
    if numbers is None:
        paths = sorted(
            (p for p in directory.iterdir() if instance_number(p) >= 0), key=instance_number
        )
        if not paths:
            raise UsageError(f"{directory}: holds no Instance<N>.txt file")
        return paths
    paths = [directory / f"Instance{n}.txt" for n in numbers]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise UsageError(f"{directory}: no {', '.join(missing)}")
    return paths


def load_best_known(directory: Path) -> dict[str, BestKnown]:
    """best_known.tsv of the benchmark folder (instance name -> values); {} when absent."""
    path = directory / BEST_KNOWN_FILE
    if not path.is_file():
        return {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"cannot read {path}: {error}") from None
    if not lines:
        return {}
    header = lines[0].split("\t")
    try:
        name_col = header.index("instance")
        upper_col = header.index("best_known_upper_bound")
    except ValueError:
        raise UsageError(
            f"{path}: line 1: expected columns 'instance' and 'best_known_upper_bound'"
        ) from None
    lower_col = (
        header.index("lower_bound_or_optimal") if "lower_bound_or_optimal" in header else None
    )
    result: dict[str, BestKnown] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            lower = None if lower_col is None else int(fields[lower_col])
            result[fields[name_col]] = BestKnown(int(fields[upper_col]), lower)
        except (IndexError, ValueError):
            raise UsageError(f"{path}: line {number}: expected integer bounds") from None
    return result


def make_row(
    name: str,
    problem: Problem,
    solution: Solution,
    seconds: float,
    best: BestKnown | None,
    seed: int = 0,
) -> BenchRow:
    gap = None
    if best is not None and solution.objective is not None:
        gap = 100 * (solution.objective - best.upper_bound) / max(best.upper_bound, 1)
    return BenchRow(
        instance=name,
        employees=len(problem.employees),
        days=problem.horizon.days,
        shift_types=len(problem.shift_types),
        objective=solution.objective,
        best_known=None if best is None else best.upper_bound,
        gap_percent=None if gap is None else round(gap, 2),
        lower_bound=solution.lower_bound,
        status=solution.status,
        solver=solution.solver,
        seconds=round(seconds, 2),
        hard_violations=len(solution.hard_violations),
        fallback_reason=solution.stats.get("fallback_reason"),
        seed=seed,
    )


@dataclass(frozen=True)
class SeedSummary:
    """One instance over several seeds."""

    instance: str
    runs: int
    objective_mean: float | None  # over the runs that returned a roster
    objective_min: int | None
    objective_max: int | None
    gap_percent_mean: float | None
    hard_violations_max: int


def summarize(rows: list[BenchRow]) -> SeedSummary:
    """The runs of one instance (`rows`, at least one) summed up."""
    objectives = [r.objective for r in rows if r.objective is not None]
    gaps = [r.gap_percent for r in rows if r.gap_percent is not None]
    return SeedSummary(
        instance=rows[0].instance,
        runs=len(rows),
        objective_mean=round(sum(objectives) / len(objectives), 1) if objectives else None,
        objective_min=min(objectives, default=None),
        objective_max=max(objectives, default=None),
        gap_percent_mean=round(sum(gaps) / len(gaps), 2) if gaps else None,
        hard_violations_max=max(r.hard_violations for r in rows),
    )


def summary_line(summary: SeedSummary) -> str:
    if summary.objective_mean is None:
        return f"  {summary.instance}: no roster in {summary.runs} runs"
    gap = "" if summary.gap_percent_mean is None else f", gap {summary.gap_percent_mean:.1f} %"
    return (
        f"  {summary.instance} over {summary.runs} seeds: mean {summary.objective_mean:.1f}"
        f"{gap}, lowest {summary.objective_min}, highest {summary.objective_max}, "
        f"hard violations at most {summary.hard_violations_max}"
    )


@dataclass(frozen=True)
class BenchConfig:
    directory: Path
    instances: list[int] | None
    time_limit: float
    memory_limit_mib: int
    workers: int
    output: Path | None
    seeds: list[int] | None = None  # None: each problem's own seed, once


def run_curtois(
    config: BenchConfig,
    solve: Callable[..., Solution],
    out: TextIO,
    err: TextIO,
) -> list[BenchRow]:
    """Solve every selected instance with `solve` (solve_isolated's signature), once per seed,
    printing and saving each row as it finishes."""
    paths = find_instances(config.directory, config.instances)
    best_known = load_best_known(config.directory)
    # Parse everything first: a malformed file should stop the run before any solving.
    problems = [(p.stem, load_problem(p)) for p in paths]
    machine = machine_facts()
    meta = {
        "benchmark": "curtois",
        "directory": str(config.directory),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "time_limit": config.time_limit,
        "memory_limit_mib": config.memory_limit_mib,
        "workers": config.workers,
        "seeds": config.seeds,
        "machine": machine,
    }
    print(
        f"machine: {machine['cpu']}, {machine['cpus']} CPUs, Python {machine['python']}, "
        f"reference loop {machine['reference_seconds']} s (lower is faster)",
        file=out,
        flush=True,
    )
    rows: list[BenchRow] = []
    summaries: list[SeedSummary] = []

    def save() -> None:
        if config.output is not None:
            document = {
                **meta,
                "rows": [asdict(r) for r in rows],
                "summaries": [asdict(s) for s in summaries],
            }
            write_text(config.output, pretty_json(document))

    print(table_header(), file=out, flush=True)
    for name, problem in problems:
        runs: list[BenchRow] = []
        for seed in config.seeds or [problem.options.seed or 0]:
            seeded = replace(problem, options=replace(problem.options, seed=seed))
            row = _run_one(config, solve, name, seeded, best_known.get(name), err)
            runs.append(row)
            rows.append(row)
            print(table_row(row), file=out, flush=True)
            if row.fallback_reason:
                print(f"  {name}: heuristic fallback: {row.fallback_reason}", file=out, flush=True)
            save()
        if len(runs) > 1:
            summaries.append(summarize(runs))
            print(summary_line(summaries[-1]), file=out, flush=True)
            save()
    at_best = sum(1 for r in rows if r.gap_percent is not None and r.gap_percent <= 0)
    total = sum(r.seconds for r in rows)
    print(
        f"{len(rows)} run{'s' if len(rows) != 1 else ''} of {len(problems)} "
        f"instance{'s' if len(problems) != 1 else ''}, {at_best} at the best-known value, "
        f"{total:.0f} s in all",
        file=out,
        flush=True,
    )
    if config.output is not None:
        print(f"results written to {config.output}", file=out, flush=True)
    return rows


def _run_one(
    config: BenchConfig,
    solve: Callable[..., Solution],
    name: str,
    problem: Problem,
    best: BestKnown | None,
    err: TextIO,
) -> BenchRow:
    progress = ProgressLine(err, prefix=f"{name}: ")
    started = time.monotonic()
    try:
        solution = solve(
            problem,
            time_limit=config.time_limit,
            memory_limit_bytes=config.memory_limit_mib * 1024**2,
            workers=config.workers,
            fallback=True,
            on_progress=progress,
        )
    finally:
        progress.clear()
    seconds = time.monotonic() - started
    return make_row(name, problem, solution, seconds, best, problem.options.seed or 0)
