"""`rota`: import benchmark files, evaluate rosters, solve problems, run benchmarks; submit
jobs to the platform's API, run the platform locally (`rota dev up`), administer it.

Exit codes: 0 done, 2 a user error (bad arguments, a missing or malformed file, an invalid
problem; the message says which, never a traceback), 1 an internal error (one line), 130
interrupted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from domain.cli import admin, client, devup, files
from domain.cli.bench import BenchConfig, run_curtois
from domain.cli.files import UsageError
from domain.cli.render import ProgressLine, roster_table, solve_summary
from domain.problem import Solution
from domain.secrets import SecretsUnavailable
from domain.settings import Settings, SettingsError, get_settings
from domain.solver.evaluator import evaluate, format_evaluation
from domain.validation import MAX_SEED

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
MAX_TABLE_DAYS = 31  # a wider roster table no longer fits a terminal
DEFAULT_START = dt.date(2024, 1, 1)  # a Monday, as day 0 of every Curtois instance is

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]


# --- argument types -------------------------------------------------------------------------


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def _number_list(what: str, example: str, maximum: int | None = None) -> Callable[[str], list[int]]:
    """A parser of comma-separated non-negative integers (at most `maximum`)."""
    top = "" if maximum is None else f" from 0 to {maximum}"

    def parse(text: str) -> list[int]:
        message = f"expected {what}{top} like {example}, got {text!r}"
        try:
            numbers = [int(x) for x in text.split(",") if x.strip()]
        except ValueError:
            raise argparse.ArgumentTypeError(message) from None
        if not numbers or min(numbers) < 0 or (maximum is not None and max(numbers) > maximum):
            raise argparse.ArgumentTypeError(message)
        return numbers

    return parse


_instances = _number_list("numbers", "1,2,5")
_seeds = _number_list("seeds", "0,1,2", MAX_SEED)


# --- commands -------------------------------------------------------------------------------


def _emit(text: str, output: Path | None, out: TextIO) -> None:
    if output is None:
        out.write(text)
    else:
        files.write_text(output, text)


def cmd_import_curtois(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    problem = files.import_curtois(args.file, args.start)
    _emit(files.pretty_json(problem), args.output, out)
    if args.output is not None:
        print(f"wrote {args.output}", file=err)
    return EXIT_OK


def cmd_evaluate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    problem = files.load_problem(args.problem)
    assignments = files.load_assignments(args.solution)
    evaluation = evaluate(problem, assignments)
    if args.json:
        p = evaluation.penalties
        report = {
            "objective": evaluation.objective,
            "feasible": evaluation.feasible,
            "penalties": {
                "requests_on": p.requests_on,
                "requests_off": p.requests_off,
                "cover_under": p.cover_under,
                "cover_over": p.cover_over,
            },
            "hard_violations": [
                {"rule": v.rule, "employee": v.employee, "dates": v.dates, "detail": v.detail}
                for v in evaluation.violations
            ],
        }
        out.write(files.pretty_json(report))
    else:
        print(format_evaluation(evaluation), file=out)
    return EXIT_OK


def _solve_isolated() -> Callable[..., Solution]:
    # Imported when needed: the runner pulls in the solver stack, which `import-curtois` and
    # `evaluate` do not need.
    from domain.solver.runner import solve_isolated

    return solve_isolated


def _limits(args: argparse.Namespace, settings: Settings) -> tuple[int, int]:
    """The memory limit (MiB) and CP-SAT workers: the flags, else the settings."""
    memory = settings.solver_memory_limit_mib if args.memory_limit is None else args.memory_limit
    workers = settings.solver_workers if args.workers is None else args.workers
    return memory, workers


def cmd_solve(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    settings = get_settings()
    problem = files.load_problem(args.problem)
    time_limit = args.time_limit
    if time_limit is None:  # the same cap as a submitted job gets (DESIGN.md section 3)
        time_limit = min(problem.options.time_limit_seconds, settings.max_time_limit_seconds)
    memory_mib, workers = _limits(args, settings)

    solve = _solve_isolated()
    progress = ProgressLine(err)
    started = time.monotonic()
    try:
        solution = solve(
            problem,
            time_limit=time_limit,
            memory_limit_bytes=memory_mib * 1024**2,
            workers=workers,
            fallback=problem.options.fallback,
            on_progress=progress,
        )
    finally:
        progress.clear()
    seconds = time.monotonic() - started

    if args.output is not None:
        files.write_text(args.output, files.pretty_json(solution))
    if args.json:
        out.write(files.pretty_json(solution))
        return EXIT_OK
    print(solve_summary(solution, seconds, time_limit), file=out)
    if args.output is not None:
        print(f"solution:        {args.output}", file=out)
    if solution.assignments and problem.horizon.days <= MAX_TABLE_DAYS:
        print(file=out)
        print(roster_table(problem, solution.assignments), file=out)
    return EXIT_OK


def cmd_bench_curtois(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    settings = get_settings()
    memory_mib, workers = _limits(args, settings)
    config = BenchConfig(
        directory=args.directory,
        instances=args.instances,
        time_limit=settings.max_time_limit_seconds if args.time_limit is None else args.time_limit,
        memory_limit_mib=memory_mib,
        workers=workers,
        output=args.output,
        seeds=args.seeds,
    )
    run_curtois(config, _solve_isolated(), out, err)
    return EXIT_OK


# --- parser ---------------------------------------------------------------------------------


def _solver_options(parser: argparse.ArgumentParser, time_default: str) -> None:
    parser.add_argument(
        "--time-limit",
        type=_positive_float,
        metavar="S",
        help=f"solver wall-time limit in seconds (default: {time_default})",
    )
    parser.add_argument(
        "--memory-limit",
        type=_int_at_least(0),
        metavar="MIB",
        help="solver memory limit in MiB, 0 for none (default: ROTA_SOLVER_MEMORY_MIB or 2048)",
    )
    parser.add_argument(
        "--workers",
        type=_int_at_least(1),
        metavar="N",
        help="CP-SAT search workers (default: ROTA_SOLVER_WORKERS or 8)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rota",
        description="Rota: staff-roster solver (CP-SAT with a heuristic fallback).",
        epilog="Exit codes: 0 done, 1 internal error, 2 usage or input error.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = commands.add_parser(
        "import-curtois",
        help="convert a Curtois & Qu benchmark .txt into problem JSON",
        description="Convert a Curtois & Qu benchmark .txt into problem JSON (DESIGN.md 3).",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument(
        "--start",
        type=_date,
        default=DEFAULT_START,
        metavar="DATE",
        help=f"date of day 0, a Monday (default: {DEFAULT_START})",
    )
    p.add_argument("-o", "--output", type=Path, metavar="OUT", help="write here, not stdout")
    p.set_defaults(handler=cmd_import_curtois)

    p = commands.add_parser(
        "evaluate",
        help="recompute the objective and list the hard-rule violations of a roster",
        description="Recompute the objective of a roster and list every hard-rule violation, "
        "from the problem and the assignments alone.",
    )
    p.add_argument("problem", type=Path, metavar="PROBLEM", help="problem JSON or Curtois .txt")
    p.add_argument(
        "solution", type=Path, metavar="SOLUTION", help="solution JSON with an assignments list"
    )
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=cmd_evaluate)

    p = commands.add_parser(
        "solve",
        help="solve a problem and print the roster",
        description="Solve a problem in an isolated, resource-limited child process.",
    )
    p.add_argument("problem", type=Path, metavar="PROBLEM", help="problem JSON or Curtois .txt")
    _solver_options(p, "the problem's options.time_limit_seconds, capped by ROTA_MAX_TIME_LIMIT")
    p.add_argument("-o", "--output", type=Path, metavar="OUT", help="write the solution JSON")
    p.add_argument(
        "--json", action="store_true", help="print the solution JSON instead of the summary"
    )
    p.set_defaults(handler=cmd_solve)

    p = commands.add_parser("bench", help="run a benchmark", description="Run a benchmark.")
    benches = p.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    b = benches.add_parser(
        "curtois",
        help="the Curtois & Qu nurse-rostering instances",
        description="Solve Instance<N>.txt files of DIR one after another and tabulate them "
        "against DIR/best_known.tsv.",
    )
    b.add_argument("directory", type=Path, metavar="DIR")
    _solver_options(b, "ROTA_MAX_TIME_LIMIT or 30")
    b.add_argument(
        "--instances", type=_instances, metavar="N,N,...", help="instance numbers (default: all)"
    )
    b.add_argument(
        "--seeds",
        type=_seeds,
        metavar="N,N,...",
        help="solve each instance once per seed and summarise them (default: once, seed 0)",
    )
    b.add_argument("-o", "--output", type=Path, metavar="OUT", help="write the rows as JSON")
    b.set_defaults(handler=cmd_bench_curtois)

    # The platform: a client of the REST API, the local dev stack, administration.
    client.register(commands, _positive_float)
    devup.register(commands, _positive_float)
    admin.register(commands)
    return parser


# --- entry point ----------------------------------------------------------------------------


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush into the closed pipe
    does not print a second BrokenPipeError (Python docs, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests, a closed stream)
        pass


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `rota` command line; return the exit code."""
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse reports its own errors (code 2) and --help (0)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help(out)
        return EXIT_OK
    handler: Handler = args.handler
    try:
        return handler(args, out, err)
    except UsageError as error:
        print(f"rota: {error}", file=err)
        return EXIT_USAGE
    except SettingsError as error:
        print(f"rota: bad setting: {error}", file=err)
        return EXIT_USAGE
    except SecretsUnavailable as error:
        print(f"rota: {error}", file=err)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rota: interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `rota ... | head`: the reader left, nothing more to say
        _silence_stdout()
        return EXIT_INTERNAL
    except Exception as error:
        print(f"internal error: {_one_line(error)}", file=err)
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
