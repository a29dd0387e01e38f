"""domain.formats.curtois: the benchmark files, a spot check, CRLF, and malformed input."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest

from domain.formats.curtois import CurtoisFormatError, load_problem_file, parse_curtois
from domain.problem import Employee, ShiftType, encode
from domain.validation import ProblemInvalid, decode_problem, validate
from tests.benchmark_data import CURTOIS_DIR


def _instance_paths() -> list[Path]:
    paths = sorted(CURTOIS_DIR.glob("Instance*.txt"), key=lambda p: int(p.stem[8:]))
    # A missing directory must fail, not skip: an empty parameter list would skip silently,
    # so stand in a path that does not exist and let reading it fail.
    return paths or [CURTOIS_DIR / "Instance*.txt"]


def _best_known() -> dict[str, dict[str, str]]:
    with (CURTOIS_DIR / "best_known.tsv").open(newline="") as f:
        return {row["instance"]: row for row in csv.DictReader(f, delimiter="\t")}


def _raw_text(path: Path) -> str:
    # read_text() would translate CRLF; the parser must cope with the bytes as published.
    return path.read_bytes().decode("ascii")


def test_benchmark_directory_is_present() -> None:
    assert CURTOIS_DIR.is_dir(), f"no Curtois benchmark at {CURTOIS_DIR}; set ROTA_CURTOIS_DIR"
    names = {p.stem for p in CURTOIS_DIR.glob("Instance*.txt")}
    assert names, f"no Instance*.txt in {CURTOIS_DIR}"
    assert names == set(_best_known())


@pytest.mark.parametrize("path", _instance_paths(), ids=lambda p: p.stem)
def test_instance_parses_with_published_sizes(path: Path) -> None:
    text = _raw_text(path)
    assert "\r\n" in text
    problem = parse_curtois(text)
    row = _best_known()[path.stem]
    assert len(problem.employees) == int(row["employees"])
    assert problem.horizon.days == int(row["days"])
    assert len(problem.shift_types) == int(row["shift_types"])
    # FORMAT.md: a cover line for every (day, shift) and a days-off line for every employee.
    assert len(problem.cover) == problem.horizon.days * len(problem.shift_types)
    assert all(e.days_off for e in problem.employees)
    assert validate(problem) == []
    assert decode_problem(encode(problem)) == problem


def test_instance1_spot_check() -> None:
    problem = parse_curtois(_raw_text(CURTOIS_DIR / "Instance1.txt"))
    assert problem.horizon.start == date(2024, 1, 1)
    assert problem.shift_types == [ShiftType(id="D", duration_minutes=480, forbidden_next=[])]
    assert problem.employees[0] == Employee(
        id="A",
        max_shifts={"D": 14},
        max_total_minutes=4320,
        min_total_minutes=3360,
        max_consecutive_shifts=5,
        min_consecutive_shifts=2,
        min_consecutive_days_off=2,
        max_weekends=1,
        days_off=[date(2024, 1, 1)],
    )
    # Employee D shares its id with shift D: the two namespaces stay separate.
    assert problem.employees[3].id == "D"
    assert problem.employees[3].days_off == [date(2024, 1, 3)]
    kinds = [r.kind for r in problem.requests]
    assert (kinds.count("on"), kinds.count("off")) == (21, 5)
    assert len(problem.cover) == 14
    assert problem.cover[1].date == date(2024, 1, 2)
    assert (problem.cover[1].requirement, problem.cover[1].under_weight) == (7, 100)


# -- a tiny instance for CRLF, options and malformed input -----------------------------------

LINES = [
    "# tiny",
    "SECTION_HORIZON",
    "7",
    "",
    "SECTION_SHIFTS",
    "D,480,",
    "N,720,D|N",
    "",
    "SECTION_STAFF",
    "D,D=7|N=0,3000,960,5,2,2,1",
    "A,D=7|N=3,3000,0,5,1,1,2",
    "",
    "SECTION_DAYS_OFF",
    "D,0",
    "A,6,5",
    "",
    "SECTION_SHIFT_ON_REQUESTS",
    "D,1,D,2",
    "",
    "SECTION_SHIFT_OFF_REQUESTS",
    "A,2,N,3",
    "",
    "SECTION_COVER",
    "0,D,1,100,1",
    "0,N,0,100,1",
    "6,N,2,90,3",
]
MINI = "\r\n".join(LINES) + "\r\n"


def test_mini_instance_maps_every_field() -> None:
    p = parse_curtois(MINI, start=date(2024, 3, 4))
    assert p.horizon.days == 7
    assert p.shift_types[1] == ShiftType(id="N", duration_minutes=720, forbidden_next=["D", "N"])
    assert p.employees[1].max_shifts == {"D": 7, "N": 3}
    assert p.employees[1].days_off == [date(2024, 3, 10), date(2024, 3, 9)]
    on, off = p.requests
    assert (on.employee, on.date, on.shift, on.kind, on.weight) == (
        "D",
        date(2024, 3, 5),
        "D",
        "on",
        2,
    )
    assert (off.employee, off.shift, off.kind, off.weight) == ("A", "N", "off", 3)
    last = p.cover[2]
    assert (last.date, last.shift, last.requirement, last.under_weight, last.over_weight) == (
        date(2024, 3, 10),
        "N",
        2,
        90,
        3,
    )
    assert validate(p) == []


def test_line_endings_do_not_matter() -> None:
    lf = "\n".join(LINES)  # no final newline either
    assert parse_curtois(MINI) == parse_curtois(lf)


def test_start_must_be_a_monday() -> None:
    with pytest.raises(ValueError, match="Monday"):
        parse_curtois(MINI, start=date(2024, 1, 2))
    with pytest.raises(ValueError, match="runs past"):
        parse_curtois(MINI, start=date(9999, 12, 27))


def _replaced(old: str, new: str) -> tuple[str, int]:
    """MINI with the line `old` replaced by `new`, and that line's 1-based number."""
    i = LINES.index(old)
    return "\r\n".join([*LINES[:i], new, *LINES[i + 1 :]]), i + 1


STAFF_D = "D,D=7|N=0,3000,960,5,2,2,1"


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("# tiny", "7", "before the first SECTION_"),
        ("SECTION_SHIFTS", "SECTION_STAFF", "out of order"),
        ("D,0", "SECTION_HORIZON", "out of order or repeated"),
        ("SECTION_COVER", "SECTION_COVERS", "unknown section"),
        ("7", "x", "integer"),
        ("7", "7,1", "expected 1 fields"),
        ("7", "400", "horizon must be"),
        ("7", "0", "horizon must be"),
        ("D,480,", "D,480", "expected 3 fields"),
        ("D,480,", "D,4x0,", "integer"),
        ("D,480,", ",480,", "empty shift id"),
        ("N,720,D|N", "D,720,", "duplicate shift id"),
        ("N,720,D|N", "N,720,D|X", "unknown shift 'X'"),
        ("N,720,D|N", "N,720,D|", "unknown shift ''"),
        (STAFF_D, "D,D=7|N=0,3000,960,5,2,2", "expected 8 fields"),
        (STAFF_D, "D,D=7|X=0,3000,960,5,2,2,1", "unknown shift 'X'"),
        (STAFF_D, "D,D7|N=0,3000,960,5,2,2,1", "not S=n"),
        (STAFF_D, "D,D=7|D=1,3000,960,5,2,2,1", "twice"),
        (STAFF_D, "D,D=7|N=-1,3000,960,5,2,2,1", "integer"),
        (STAFF_D, "D,D=7|N=0,3000,960,5,2,2, 1", "integer"),
        ("A,D=7|N=3,3000,0,5,1,1,2", "D,D=7|N=3,3000,0,5,1,1,2", "duplicate employee id"),
        ("D,0", "Q,0", "unknown employee 'Q'"),
        ("D,0", "D,7", "outside 0..6"),
        ("D,0", "D", "EmployeeID,Day"),
        ("A,6,5", "D,6", "second days-off line"),
        ("D,1,D,2", "D,1,X,2", "unknown shift 'X'"),
        ("D,1,D,2", "X,1,D,2", "unknown employee 'X'"),
        ("D,1,D,2", "D,1,D", "expected 4 fields"),
        ("A,2,N,3", "A,2,N,3.5", "integer"),
        ("A,2,N,3", "A,-1,N,3", "integer"),
        ("0,D,1,100,1", "0,D,1,100", "expected 5 fields"),
        ("0,D,1,100,1", "0,A,1,100,1", "unknown shift 'A'"),  # A is an employee, not a shift
        ("0,D,1,100,1", "9,D,1,100,1", "outside 0..6"),
    ],
)
def test_malformed_line_is_reported_with_its_number(old: str, new: str, fragment: str) -> None:
    text, number = _replaced(old, new)
    with pytest.raises(CurtoisFormatError) as caught:
        parse_curtois(text)
    assert caught.value.line == number
    assert fragment in caught.value.message
    assert str(caught.value) == f"line {number}: {caught.value.message}"


def test_missing_horizon_value_points_at_its_header() -> None:
    text, _ = _replaced("7", "")
    with pytest.raises(CurtoisFormatError, match="no value") as caught:
        parse_curtois(text)
    assert caught.value.line == 2


def test_truncated_file_names_the_missing_section() -> None:
    text = "\r\n".join(LINES[:21])  # stops after the off requests
    with pytest.raises(CurtoisFormatError, match="missing SECTION_COVER") as caught:
        parse_curtois(text)
    assert caught.value.line == 21


# -- load_problem_file ------------------------------------------------------------------------


def test_load_reads_curtois_by_suffix_or_content(tmp_path: Path) -> None:
    (tmp_path / "mini.txt").write_bytes(MINI.encode())
    (tmp_path / "mini.dat").write_bytes(MINI.encode())
    expected = parse_curtois(MINI, name="mini")
    assert load_problem_file(tmp_path / "mini.txt") == expected
    assert load_problem_file(str(tmp_path / "mini.dat")) == expected
    assert expected.name == "mini"  # the file's stem names the problem


def test_load_reads_json(tmp_path: Path) -> None:
    problem = parse_curtois(MINI, start=date(2024, 1, 8))
    (tmp_path / "p.json").write_bytes(encode(problem))
    assert load_problem_file(tmp_path / "p.json") == problem


def test_load_validates_both_formats(tmp_path: Path) -> None:
    (tmp_path / "dup.txt").write_text(MINI + "0,D,3,100,1\r\n")
    with pytest.raises(ProblemInvalid) as caught:
        load_problem_file(tmp_path / "dup.txt")
    assert [(i.path, i.code) for i in caught.value.issues] == [("$.cover[3]", "DUPLICATE_COVER")]
    (tmp_path / "bad.json").write_text('{"horizon": {')
    with pytest.raises(ProblemInvalid, match="MALFORMED_JSON"):
        load_problem_file(tmp_path / "bad.json")


def test_load_reports_non_text_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "bin.txt").write_bytes(MINI.encode().replace(b"A,6,5", b"A,6,\xff"))
    with pytest.raises(CurtoisFormatError) as caught:
        load_problem_file(tmp_path / "bin.txt")
    assert caught.value.line == LINES.index("A,6,5") + 1
