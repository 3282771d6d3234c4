"""Any row -> ``Problem``: the one row parser every caller uses (loaders, ``prover verify``, training files).

A row is recognised by its fields, in this order:

* ``Problem.to_json`` form (``id`` and ``domain`` plus other ``Problem`` fields);
* Lean: a MiniF2F-style row (``name`` or ``id``, ``formal_statement``, ``header``...);
* code: an MBPP row (``task_id``, ``text``, ``test_list``), a HumanEval row
  (``task_id``, ``prompt``, ``test``, ``entry_point``), or a plain row (``id``,
  ``prompt``, then ``tests`` [+ ``test_setup_code``] or ``test`` + ``entry_point``);
* math: a GSM8K row (``question``, ``answer`` ending in ``#### N``) or a plain
  row (``id``, ``reference`` or ``answer`` = the reference, ``prompt``/``question``).

The same row gives the same ``Problem`` (id, reference, entry point) wherever it is read.
"""

from __future__ import annotations

import ast
import dataclasses
import keyword
import math
import warnings
from pathlib import Path
from typing import Any, Mapping

from prover.data.code import humaneval_problem, mbpp_entry_point, mbpp_problem
from prover.data.lean import problem_from_row as lean_problem
from prover.data.math import gsm8k_problem
from prover.data.rows import DataError, RowError, optional_str, read_jsonl, require_str, str_list
from prover.types import DOMAINS, Problem

_PROBLEM_FIELDS = frozenset(f.name for f in dataclasses.fields(Problem))
# Row fields that are not part of the problem (``prover verify`` rows carry the response).
EXTRA_FIELDS = frozenset({"response", "line"})


def _problem_json(row: Mapping[str, Any], domain: str) -> Problem:
    if row.get("domain") != domain:
        raise RowError("domain", f"the row is for domain {row.get('domain')!r}, but this reads {domain!r} problems")
    try:
        return Problem.from_json({k: v for k, v in row.items() if k in _PROBLEM_FIELDS})
    except (TypeError, ValueError) as e:
        raise RowError("<row>", str(e)) from None


def _row_id(row: Mapping[str, Any]) -> str:
    pid = row.get("id")
    if isinstance(pid, bool) or not isinstance(pid, (str, int)) or not str(pid).strip():
        raise RowError("id", f"must be a non-empty string, got {pid!r}" if "id" in row else "is missing")
    return str(pid)


def _python(field: str, source: str, item: int | None = None) -> ast.Module:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return ast.parse(source)
    except (SyntaxError, ValueError) as e:
        where = f"item {item} " if item is not None else ""
        raise RowError(field, f"{where}is not valid Python ({e})") from None


def _code_row(row: Mapping[str, Any]) -> Problem:
    pid = _row_id(row)
    prompt = optional_str(row, "prompt")
    entry = optional_str(row, "entry_point")
    if entry and not (entry.isidentifier() and not keyword.iskeyword(entry)):
        raise RowError("entry_point", f"must be a Python identifier, got {entry!r}")
    has_test, has_tests = row.get("test") not in (None, ""), row.get("tests") not in (None, [], ())
    if has_test and has_tests:
        raise RowError("test", "give either `test` (HumanEval style) or `tests` (MBPP style), not both")
    if has_test:
        test = require_str(row, "test")
        if not any(isinstance(n, ast.FunctionDef) and n.name == "check" for n in _python("test", test).body):
            raise RowError("test", "must define check(candidate) at top level (HumanEval style)")
        if not entry:
            raise RowError("entry_point", "is required with `test`: the name of the function passed to check()")
        return Problem(id=pid, domain="code", prompt=prompt, test_code=test, entry_point=entry)
    if not has_tests:
        raise RowError("tests", "is missing: give `tests` (a list of assert lines) or `test` (Python defining "
                                "check(candidate)) with `entry_point`")
    tests = str_list(row, "tests")
    for i, line in enumerate(tests):
        if not line.strip():
            raise RowError("tests", f"item {i} must be a non-empty string of Python")
        _python("tests", line, i)
    setup = optional_str(row, "test_setup_code")
    if setup:
        _python("test_setup_code", setup)
    entry = entry or mbpp_entry_point("", tests)
    if not entry:
        raise RowError("tests", "do not call any function of the solution; set `entry_point`")
    return Problem(id=pid, domain="code", prompt=prompt, tests=tests, test_setup_code=setup, entry_point=entry)


def _math_row(row: Mapping[str, Any], index: int) -> Problem:
    answer = row.get("answer")
    if isinstance(answer, str) and "####" in answer and "reference" not in row:
        return gsm8k_problem(row, str(row.get("split") or "file"), index)
    pid = _row_id(row)
    key = "reference" if "reference" in row else "answer"
    reference = row.get(key)
    if isinstance(reference, bool) or not isinstance(reference, (str, int, float)) or not str(reference).strip():
        raise RowError(key, "is missing or empty (the reference final answer, e.g. \"72\" or \"\\\\frac{1}{2}\")")
    if isinstance(reference, float) and not math.isfinite(reference):
        raise RowError(key, f"must be a finite number, got {reference!r}")
    prompt = row.get("prompt", row.get("question", ""))
    if not isinstance(prompt, str):
        raise RowError("prompt", f"must be a string, got {type(prompt).__name__}")
    return Problem(id=str(pid), domain="math", prompt=prompt, reference=str(reference).strip())


def problem_from_row(row: Mapping[str, Any], domain: str, *, index: int = 0) -> Problem:
    """The ``Problem`` of one row (see the module docstring); raises ``RowError`` naming the bad field.

    ``index`` (the row's position in its file) names GSM8K rows that carry no id.
    """
    if domain not in DOMAINS:
        raise ValueError(f"domain {domain!r}: use one of {DOMAINS}")
    if not isinstance(row, Mapping):
        raise RowError("<row>", f"must be a JSON object, got {type(row).__name__}")
    if "domain" in row and "id" in row and set(row) <= _PROBLEM_FIELDS | EXTRA_FIELDS:
        return _problem_json(row, domain)
    if domain == "lean":
        return lean_problem(row)
    if domain == "code":
        if "task_id" in row and "test_list" in row:
            return mbpp_problem(row)
        if "task_id" in row and "test" in row:
            return humaneval_problem(row)
        return _code_row(row)
    return _math_row(row, index)


def load_problem_file(path: str | Path, domain: str, *, limit: int = 0) -> list[Problem]:
    """Every row of a JSONL file as a ``Problem`` (unique ids); errors name the file, line and field."""
    out: list[Problem] = []
    seen: dict[str, int] = {}
    for index, (lineno, row) in enumerate(read_jsonl(path, what="problem file")):
        if limit and len(out) >= limit:
            break
        try:
            problem = problem_from_row(row, domain, index=index)
        except RowError as e:
            raise DataError(f"{path}:{lineno}: {e}") from None
        if problem.id in seen:
            raise DataError(f"{path}:{lineno}: field 'id': duplicate problem id {problem.id!r} (first on line "
                            f"{seen[problem.id]}); ids must be unique")
        seen[problem.id] = lineno
        out.append(problem)
    if not out:
        raise DataError(f"{path}: the problem file holds no problems")
    return out


__all__ = ["EXTRA_FIELDS", "load_problem_file", "problem_from_row"]
