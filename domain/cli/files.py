"""Reading the CLI's input files and writing its outputs.

Every failure a user can cause (a missing file, bad JSON, a malformed benchmark file, an
invalid problem) comes out as `UsageError`, whose text is ready to print: `main` turns it into
exit code 2 without a traceback.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from pathlib import Path

import msgspec

from domain.formats.curtois import CurtoisFormatError, load_problem_file, parse_curtois
from domain.problem import Assignment, Problem
from domain.validation import ProblemInvalid, validate


class UsageError(Exception):
    """A mistake in the command line or its files; the message says what and where."""


class _AssignmentsFile(msgspec.Struct):
    """The part of a Solution (DESIGN.md section 3) that `evaluate` needs. Unknown fields are
    allowed so that a whole Solution, as `rota solve -o` writes it, is accepted."""

    assignments: list[Assignment]


_assignments_decoder = msgspec.json.Decoder(_AssignmentsFile)


def invalid_problem_message(path: str | Path, error: ProblemInvalid) -> str:
    n = len(error.issues)
    lines = [f"{path}: invalid problem ({n} issue{'s' if n != 1 else ''})"]
    lines += [f"  {i.path}: {i.code}: {i.message}" for i in error.issues]
    return "\n".join(lines)


def _os_message(path: str | Path, error: OSError) -> str:
    return f"{path}: {error.strerror or error}"


def read_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read {_os_message(path, error)}") from None


def load_problem(path: str | Path) -> Problem:
    """A validated problem from problem JSON or a Curtois `.txt` instance."""
    try:
        return load_problem_file(path)
    except OSError as error:
        raise UsageError(f"cannot read {_os_message(path, error)}") from None
    except CurtoisFormatError as error:
        raise UsageError(f"{path}: {error}") from None
    except ProblemInvalid as error:
        raise UsageError(invalid_problem_message(path, error)) from None
    except ValueError as error:  # e.g. a horizon that runs past year 9999
        raise UsageError(f"{path}: {error}") from None


def import_curtois(path: str | Path, start: dt.date) -> Problem:
    """Parse and validate a Curtois `.txt` instance whose day 0 is `start`."""
    data = read_bytes(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        raise UsageError(f"{path}: line {line}: the file is not ASCII/UTF-8 text") from None
    try:
        problem = parse_curtois(text, start=start, name=Path(path).stem)
    except CurtoisFormatError as error:
        raise UsageError(f"{path}: {error}") from None
    except ValueError as error:  # a start that is not a Monday
        raise UsageError(str(error)) from None
    if issues := validate(problem):
        raise UsageError(invalid_problem_message(path, ProblemInvalid(issues)))
    return problem


def load_assignments(path: str | Path) -> list[Assignment]:
    """The assignments of a Solution JSON file (any object with an `assignments` list)."""
    data = read_bytes(path)
    try:
        return _assignments_decoder.decode(data).assignments
    except msgspec.ValidationError as error:  # a subclass of DecodeError: test it first
        raise UsageError(f"{path}: not a solution: {error}") from None
    except msgspec.DecodeError as error:
        raise UsageError(f"{path}: invalid JSON: {error}") from None


def pretty_json(value: object) -> str:
    """JSON for people and diffs: one top-level member per line and, in top-level lists, one
    item per line (a 364-day problem indented throughout would be tens of thousands of lines).
    """
    data = msgspec.to_builtins(value)
    if not isinstance(data, dict) or not data:
        return msgspec.json.encode(data).decode() + "\n"
    members = []
    for key, item in data.items():
        name = msgspec.json.encode(key).decode()
        if isinstance(item, list) and item:
            rows = ",\n".join(f"    {msgspec.json.encode(x).decode()}" for x in item)
            members.append(f"  {name}: [\n{rows}\n  ]")
        else:
            members.append(f"  {name}: {msgspec.json.encode(item).decode()}")
    return "{\n" + ",\n".join(members) + "\n}\n"


def write_text(path: str | Path, text: str) -> None:
    """Write `text` to `path` atomically (a reader never sees half a file), creating its
    directory; a bench run rewrites its results after every instance."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as error:
        raise UsageError(f"cannot write {_os_message(path, error)}") from None
