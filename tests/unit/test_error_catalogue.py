"""docs/errors.md lists every stable error code the code base can produce, and no other.

The codes are found in the sources, not in a list kept by hand, so a new code that is not
documented fails here: an UPPER_SNAKE string given as `code=...`, assigned to `code`, passed
to Issue/HttpProblem/problem_response, a member of an `...ErrorCode` enum, or one of the codes
api/errors.py gives to Litestar's own errors; a module constant used in those places (`code =
WEBHOOK_URL_INVALID`) counts by its value.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

from api.errors import _HTTP_ERRORS

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "docs" / "errors.md"
SOURCES = ("api", "domain", "workers")
CODE = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)*")
# Calls whose positional UPPER_SNAKE string arguments are codes.
CODE_TAKING_CALLS = {"Issue", "HttpProblem", "problem_response", "FieldIssue"}
# A catalogue row: | `CODE` | ...
CATALOGUE_ROW = re.compile(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", re.MULTILINE)


def constants(trees: list[ast.Module]) -> dict[str, str]:
    """Module-level `NAME = "UPPER_SNAKE"` of every module: how a code used by name reads."""
    found = {}
    for tree in trees:
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
                and CODE.fullmatch(node.value.value)
            ):
                found.update(
                    {t.id: node.value.value for t in node.targets if isinstance(t, ast.Name)}
                )
    return found


def _strings(node: ast.AST, named: dict[str, str]) -> Iterator[str]:
    for child in ast.walk(node):
        if isinstance(child, ast.Constant) and isinstance(child.value, str):
            if CODE.fullmatch(child.value):
                yield child.value
        elif isinstance(child, ast.Name) and child.id in named:
            yield named[child.id]
        elif isinstance(child, ast.Attribute) and child.attr in named:
            yield named[child.attr]


def _names(target: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(target) if isinstance(n, ast.Attribute)
    }


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def codes_in(tree: ast.AST, named: dict[str, str]) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg in ("code", "error_code"):
                    found.update(_strings(keyword.value, named))
            if _call_name(node) in CODE_TAKING_CALLS:
                for arg in node.args:
                    found.update(_strings(arg, named))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None and any(
                name in ("code", "error_code") for t in targets for name in _names(t)
            ):
                found.update(_strings(node.value, named))
        elif isinstance(node, ast.ClassDef) and node.name.endswith("ErrorCode"):
            for statement in node.body:
                if isinstance(statement, ast.Assign):
                    found.update(_strings(statement.value, named))
    return found


def codes_in_sources() -> dict[str, set[str]]:
    """code -> the files that use it."""
    paths = [path for package in SOURCES for path in sorted((ROOT / package).rglob("*.py"))]
    trees = [ast.parse(path.read_text(), filename=str(path)) for path in paths]
    named = constants(trees)
    where: dict[str, set[str]] = {}
    for path, tree in zip(paths, trees, strict=True):
        for code in codes_in(tree, named):
            where.setdefault(code, set()).add(str(path.relative_to(ROOT)))
    for code, _detail in _HTTP_ERRORS.values():
        where.setdefault(code, set()).add("api/errors.py")
    return where


def documented_codes() -> set[str]:
    return set(CATALOGUE_ROW.findall(CATALOGUE.read_text()))


def test_the_scanner_finds_codes_of_every_kind():
    used = codes_in_sources()

    assert "JOB_NOT_FOUND" in used  # code="..." keyword
    assert "NOT_FOUND" in used  # class attribute `code = "..."`
    assert "MALFORMED_JSON" in used  # Issue(path, "CODE", message)
    assert "NUL_CHARACTER" in used  # `code, what = "CODE", "..."`
    assert "NOT_READY" in used  # HttpProblem(503, "CODE", ...)
    assert "INVALID_PARAMETER" in used  # FieldIssue(..., code="CODE")
    assert "WORKER_LOST" in used  # ErrorCode enum member
    assert "RATE_LIMITED" in used  # api/errors.py's codes for Litestar's own errors
    assert "WEBHOOK_URL_FORBIDDEN" in used  # code=WEBHOOK_URL_FORBIDDEN, a module constant


def test_every_code_in_the_code_base_is_in_the_catalogue():
    used = codes_in_sources()

    missing = {
        code: sorted(files) for code, files in used.items() if code not in documented_codes()
    }

    assert missing == {}, f"add these codes to docs/errors.md: {missing}"


def test_the_catalogue_lists_no_code_that_nothing_produces():
    stale = documented_codes() - codes_in_sources().keys()

    assert stale == set(), f"docs/errors.md documents codes no code produces: {sorted(stale)}"


def test_the_catalogue_documents_the_problem_document_shape():
    text = CATALOGUE.read_text()

    for member in ("type", "title", "status", "detail", "code", "correlation_id", "errors"):
        assert f"`{member}`" in text
    assert "application/problem+json" in text
