"""The `rota` command line, run in-process through `main([...])` (and once as a real script).

The solve and bench tests go through the real isolated runner with short time limits.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from domain.cli import main as cli
from domain.cli.bench import BenchConfig, BenchRow, run_curtois, summarize
from domain.cli.machine import cpu_model
from domain.cli.main import main
from domain.cli.render import roster_table
from domain.problem import Assignment, Solution, solution_decoder
from domain.settings import get_settings
from domain.validation import decode_problem
from tests.benchmark_data import curtois_instance

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "domain" / "samples" / "sample.json"


@pytest.fixture(scope="session")
def curtois_dir() -> Path:
    return curtois_instance(1).parent


@pytest.fixture(autouse=True)
def _fresh_settings():
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# A tiny problem whose evaluation is known by hand: A works on their day off, B works the
# day they asked to have off (weight 3), and 2024-01-02 has one person too many (weight 1).
TINY = {
    "horizon": {"start": "2024-01-01", "days": 3},
    "shift_types": [{"id": "D", "duration_minutes": 480}],
    "employees": [{"id": "A", "days_off": ["2024-01-02"]}, {"id": "B"}],
    "requests": [
        {"employee": "A", "date": "2024-01-01", "shift": "D", "kind": "on", "weight": 2},
        {"employee": "B", "date": "2024-01-03", "shift": "D", "kind": "off", "weight": 3},
    ],
    "cover": [
        {
            "date": f"2024-01-0{d}",
            "shift": "D",
            "requirement": 1,
            "under_weight": 10,
            "over_weight": 1,
        }
        for d in (1, 2, 3)
    ],
}
TINY_ASSIGNMENTS = [
    {"employee": "A", "date": "2024-01-01", "shift": "D"},
    {"employee": "A", "date": "2024-01-02", "shift": "D"},
    {"employee": "B", "date": "2024-01-02", "shift": "D"},
    {"employee": "B", "date": "2024-01-03", "shift": "D"},
]


@pytest.fixture
def tiny(tmp_path: Path) -> tuple[Path, Path]:
    problem = tmp_path / "problem.json"
    problem.write_text(json.dumps(TINY))
    solution = tmp_path / "solution.json"
    solution.write_text(json.dumps({"status": "feasible", "assignments": TINY_ASSIGNMENTS}))
    return problem, solution


# --- help -----------------------------------------------------------------------------------


def test_no_arguments_prints_help(capsys):
    code, out, _ = run(capsys)
    assert code == 0
    for command in ("import-curtois", "evaluate", "solve", "bench"):
        assert command in out


def test_unknown_option_is_a_usage_error(capsys):
    code, _, err = run(capsys, "solve", "--no-such-option")
    assert code == 2
    assert "usage:" in err


# --- import-curtois -------------------------------------------------------------------------


def test_import_curtois_prints_problem_json(capsys, curtois_dir):
    code, out, err = run(capsys, "import-curtois", curtois_dir / "Instance1.txt")
    assert code == 0, err
    problem = decode_problem(out)
    assert problem.name == "Instance1"
    assert (len(problem.employees), problem.horizon.days, len(problem.shift_types)) == (8, 14, 1)
    assert problem.horizon.start == dt.date(2024, 1, 1)


def test_import_curtois_writes_file_from_another_monday(capsys, curtois_dir, tmp_path):
    target = tmp_path / "out" / "i1.json"
    code, out, _ = run(
        capsys,
        "import-curtois",
        curtois_dir / "Instance1.txt",
        "--start",
        "2025-03-03",
        "-o",
        target,
    )
    assert code == 0
    assert out == ""
    assert decode_problem(target.read_bytes()).horizon.start == dt.date(2025, 3, 3)


def test_import_curtois_rejects_a_start_that_is_not_a_monday(capsys, curtois_dir):
    code, _, err = run(
        capsys, "import-curtois", curtois_dir / "Instance1.txt", "--start", "2024-01-02"
    )
    assert code == 2
    assert "Monday" in err
    assert "Traceback" not in err


def test_import_curtois_malformed_file_names_the_line(capsys, curtois_dir, tmp_path):
    lines = (curtois_dir / "Instance1.txt").read_bytes().decode().split("\n")
    staff = lines.index("SECTION_STAFF\r")
    index = next(i for i in range(staff + 1, len(lines)) if not lines[i].startswith("#"))
    lines[index] = lines[index].rstrip("\r").rsplit(",", 1)[0] + "\r"  # drop the last field
    number = index + 1
    bad = tmp_path / "bad.txt"
    bad.write_text("\n".join(lines))
    code, out, err = run(capsys, "import-curtois", bad)
    assert code == 2
    assert out == ""
    assert f"line {number}: staff: expected 8 fields, got 7" in err
    assert str(bad) in err
    assert "Traceback" not in err


# --- evaluate -------------------------------------------------------------------------------


def test_evaluate_reports_objective_and_violation(capsys, tiny):
    problem, solution = tiny
    code, out, err = run(capsys, "evaluate", problem, solution)
    assert code == 0, err
    assert "objective: 4" in out
    assert "requests off: 3" in out
    assert "cover over:   1" in out
    assert "day_off (1)" in out
    assert "A 2024-01-02" in out


def test_evaluate_json(capsys, tiny):
    problem, solution = tiny
    code, out, _ = run(capsys, "evaluate", problem, solution, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["objective"] == 4
    assert report["feasible"] is False
    assert report["penalties"] == {
        "requests_on": 0,
        "requests_off": 3,
        "cover_under": 0,
        "cover_over": 1,
    }
    assert [(v["rule"], v["employee"], v["dates"]) for v in report["hard_violations"]] == [
        ("day_off", "A", ["2024-01-02"])
    ]


def test_evaluate_accepts_a_curtois_problem(capsys, curtois_dir, tmp_path):
    solution = tmp_path / "empty.json"
    solution.write_text('{"assignments": []}')
    code, out, _ = run(capsys, "evaluate", curtois_dir / "Instance1.txt", solution)
    assert code == 0
    assert "objective:" in out
    assert "min_total_minutes" in out  # nobody works, so everyone is short of minutes


# --- solve ----------------------------------------------------------------------------------


def test_solve_sample_prints_summary_and_roster_and_writes_solution(capsys, tmp_path):
    target = tmp_path / "solution.json"
    code, out, err = run(capsys, "solve", SAMPLE, "--time-limit", "3", "-o", target)
    assert code == 0, err
    assert "Traceback" not in err
    assert "status:" in out
    assert "hard violations: 0" in out
    assert "Alice Martin (e01)" in out  # the roster table
    assert "SA SU" in out  # weekend columns
    solution = solution_decoder.decode(target.read_bytes())
    assert solution.status in ("optimal", "feasible")
    assert solution.hard_violations == []
    assert solution.assignments

    # The written solution goes straight back into `evaluate`, which agrees on the objective.
    code, out, _ = run(capsys, "evaluate", SAMPLE, target, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["feasible"] is True
    assert report["objective"] == solution.objective


def test_solve_json_prints_the_solution_only(capsys):
    code, out, err = run(capsys, "solve", SAMPLE, "--time-limit", "2", "--json")
    assert code == 0, err
    solution = solution_decoder.decode(out)
    assert solution.solver in ("cp-sat", "heuristic")
    assert solution.objective is not None


# --- bench ----------------------------------------------------------------------------------


def test_bench_curtois_instance1(capsys, curtois_dir, tmp_path):
    results = tmp_path / "results.json"
    code, out, err = run(
        capsys,
        "bench",
        "curtois",
        curtois_dir,
        "--time-limit",
        "3",
        "--instances",
        "1",
        "-o",
        results,
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("machine: ")
    assert lines[1].split()[:3] == ["instance", "size", "objective"]
    assert any(line.startswith("Instance1 ") and "8x14x1" in line for line in lines)
    data = json.loads(results.read_text())
    assert data["time_limit"] == 3.0
    (row,) = data["rows"]
    assert row["instance"] == "Instance1"
    assert row["best_known"] == 607
    assert row["objective"] >= 607
    assert row["hard_violations"] == 0
    assert row["gap_percent"] == pytest.approx(100 * (row["objective"] - 607) / 607, abs=0.01)


def test_bench_seeds_solve_each_instance_once_per_seed_and_summarise(capsys, curtois_dir, tmp_path):
    results = tmp_path / "results.json"
    code, out, err = run(
        capsys,
        *("bench", "curtois", curtois_dir, "--time-limit", "3", "--instances", "1"),
        *("--seeds", "3,7", "-o", results),
    )
    assert code == 0, err
    data = json.loads(results.read_text())
    assert [(r["instance"], r["seed"]) for r in data["rows"]] == [
        ("Instance1", 3),
        ("Instance1", 7),
    ]
    objectives = [r["objective"] for r in data["rows"]]
    (summary,) = data["summaries"]
    assert summary["runs"] == 2
    assert summary["objective_min"] == min(objectives)
    assert summary["objective_max"] == max(objectives)
    assert summary["objective_mean"] == pytest.approx(sum(objectives) / 2, abs=0.05)
    assert data["seeds"] == [3, 7]
    assert data["machine"]["cpus"] >= 1
    assert data["machine"]["reference_seconds"] > 0
    assert out.splitlines()[0].startswith("machine: ")
    assert "Instance1 over 2 seeds: mean" in out
    assert "2 runs of 1 instance" in out


def test_bench_hands_each_seed_to_the_solver():
    # The solver stands in for solve_isolated: what is under test is the seed loop around it.
    seen: list[int | None] = []

    def solve(problem, **_):
        seen.append(problem.options.seed)
        return Solution(
            status="feasible",
            objective=610 + problem.options.seed,
            lower_bound=None,
            solver="heuristic",
            assignments=[],
        )

    config = BenchConfig(
        directory=curtois_instance(1).parent,
        instances=[1],
        time_limit=1.0,
        memory_limit_mib=0,
        workers=1,
        output=None,
        seeds=[0, 4, 2],
    )
    out = io.StringIO()
    rows = run_curtois(config, solve, out, io.StringIO())
    assert seen == [0, 4, 2]
    assert [(r.seed, r.objective) for r in rows] == [(0, 610), (4, 614), (2, 612)]
    assert (
        "Instance1 over 3 seeds: mean 612.0, gap 0.8 %, lowest 610, highest 614" in out.getvalue()
    )


def test_summary_of_runs_without_a_roster():
    def row(objective, seed):
        gap = None if objective is None else 100 * (objective - 100) / 100
        return BenchRow(
            "I", 1, 1, 1, objective, 100, gap, None, "x", "heuristic", 1.0, 0, None, seed
        )

    summary = summarize([row(110, 0), row(None, 1), row(130, 2)])
    assert (summary.runs, summary.objective_mean, summary.objective_min) == (3, 120.0, 110)
    assert (summary.objective_max, summary.gap_percent_mean) == (130, 20.0)
    assert summarize([row(None, 0)]).objective_mean is None


@pytest.mark.parametrize("seeds", ["x", "-1", "", "2147483648"])
def test_bench_bad_seeds_are_a_usage_error(capsys, curtois_dir, seeds):
    code, out, err = run(capsys, "bench", "curtois", curtois_dir, "--seeds", seeds)
    assert code == 2
    assert "--seeds" in err
    assert out == ""


def test_cpu_model_is_read_from_cpuinfo(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nmodel name\t: Example CPU 9000\n")
    assert cpu_model(cpuinfo) == "Example CPU 9000"
    assert cpu_model(tmp_path / "missing") != ""


def test_bench_missing_instance_is_a_usage_error(capsys, curtois_dir):
    code, out, err = run(capsys, "bench", "curtois", curtois_dir, "--instances", "1,999")
    assert code == 2
    assert "Instance999.txt" in err
    assert out == ""  # nothing was solved


# --- error paths ----------------------------------------------------------------------------


def _no_traceback(code: int, err: str) -> None:
    assert code == 2
    assert err.startswith("rota")
    assert "Traceback" not in err


def test_missing_files_exit_2(capsys, tmp_path, tiny):
    problem, _ = tiny
    missing = tmp_path / "nope.json"
    for argv in (
        ("solve", missing),
        ("evaluate", missing, problem),
        ("evaluate", problem, missing),
        ("import-curtois", tmp_path / "nope.txt"),
        ("bench", "curtois", tmp_path / "no-such-dir"),
    ):
        code, _, err = run(capsys, *argv)
        _no_traceback(code, err)
        assert "nope" in err or "no-such-dir" in err


def test_invalid_json_exits_2(capsys, tmp_path, tiny):
    problem, _ = tiny
    broken = tmp_path / "broken.json"
    broken.write_text('{"horizon": ')
    code, _, err = run(capsys, "solve", broken)
    _no_traceback(code, err)
    assert "MALFORMED_JSON" in err
    code, _, err = run(capsys, "evaluate", problem, broken)
    _no_traceback(code, err)
    assert "invalid JSON" in err


def test_solution_without_assignments_exits_2(capsys, tmp_path, tiny):
    problem, _ = tiny
    wrong = tmp_path / "wrong.json"
    wrong.write_text('{"assignments": [{"employee": "A"}]}')
    code, _, err = run(capsys, "evaluate", problem, wrong)
    _no_traceback(code, err)
    assert "date" in err


def test_validation_errors_list_every_issue(capsys, tmp_path):
    bad = dict(TINY)
    bad["shift_types"] = [{"id": "D", "duration_minutes": 480, "forbidden_next": ["X"]}]
    bad["employees"] = [{"id": "A", "min_consecutive_shifts": 5, "max_consecutive_shifts": 2}]
    path = tmp_path / "invalid.json"
    path.write_text(json.dumps(bad))
    code, out, err = run(capsys, "solve", path)
    _no_traceback(code, err)
    assert out == ""
    assert "$.shift_types[0].forbidden_next[0]: UNKNOWN_SHIFT: no shift 'X'" in err
    assert "$.employees[0].min_consecutive_shifts: MIN_GREATER_THAN_MAX:" in err
    assert "$.requests[1].employee: UNKNOWN_EMPLOYEE:" in err


def test_bad_setting_exits_2(capsys, monkeypatch):
    monkeypatch.setenv("ROTA_SOLVER_WORKERS", "many")
    code, _, err = run(capsys, "solve", SAMPLE)
    _no_traceback(code, err)
    assert "ROTA_SOLVER_WORKERS" in err


def test_unexpected_error_is_one_line_exit_1(capsys, monkeypatch):
    def broken_solver():
        def solve(*args, **kwargs):
            raise RuntimeError("boom\nwith a second line")

        return solve

    monkeypatch.setattr(cli, "_solve_isolated", broken_solver)
    code, _, err = run(capsys, "solve", SAMPLE)
    assert code == 1
    assert err == "internal error: RuntimeError: boom with a second line\n"


# --- roster table ---------------------------------------------------------------------------


def test_roster_table_marks_off_days_and_weekends():
    days = {"horizon": {"start": "2024-01-05", "days": 3}, "requests": [], "cover": []}
    problem = decode_problem(json.dumps(TINY | days | {"employees": [{"id": "A"}, {"id": "B"}]}))
    a = [Assignment(employee="B", date=dt.date(2024, 1, 6), shift="D")]
    table = roster_table(problem, a)
    header, days, *rows = table.splitlines()[1:]
    assert header.split()[:3] == ["Fr", "SA", "SU"]
    assert days.split() == ["employee", "05", "06", "07"]
    assert rows[0].split()[:4] == ["A", ".", ".", "."]
    assert rows[1].split()[:4] == ["B", ".", "D", "."]


# --- the installed console script -----------------------------------------------------------


def test_console_script(curtois_dir, tmp_path):
    script = Path(sys.executable).with_name("rota")
    assert script.is_file(), f"{script} is missing: run `make install`"
    target = tmp_path / "i1.json"
    done = subprocess.run(
        [script, "import-curtois", curtois_dir / "Instance1.txt", "-o", target],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert decode_problem(target.read_bytes()).name == "Instance1"

    done = subprocess.run(
        [script, "solve", tmp_path / "missing.json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "missing.json" in done.stderr
