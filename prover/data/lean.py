"""Lean statement sets as ``Problem`` lists: MiniF2F, ProofNet, MiniF2F-core, any JSONL.

Rows are MiniF2F-style JSON objects: ``name`` (or ``id``), ``formal_statement``
ending in ``:= by`` or ``:=``, and optionally ``header``, ``informal_prefix``,
``split``, ``source``. Problem ids are the names; ``meta`` holds ``split`` and
``source`` (the competition or family the name starts with: ``aime``, ``amc``,
``imo``, ``mathd``, ``induction``, ``algebra``, ``numbertheory``...).

Files come from the shared data directory (``prover.data.rows.data_dir``) and are
read in place by the one JSONL reader. Use ``prover.data.load("minif2f" |
"minif2f_core" | "proofnet" | "lean_jsonl", ...)`` rather than these loaders directly.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Mapping

from prover.data.rows import REPO_ROOT, DataError, RowError, data_dir, data_file, read_jsonl, require_str
from prover.types import Problem

MINIF2F_CORE_PATH = REPO_ROOT / "data" / "minif2f_core.jsonl"
SPLITS: tuple[str, ...] = ("valid", "test")

# Name prefixes that belong to one family (after lower-casing the leading letters).
_SOURCE_ALIASES: dict[str, str] = {
    "aimei": "aime",
    "aimeii": "aime",
    "imosl": "imo",
    "exercise": "proofnet",
}


LeanDataError = DataError  # one error type for bad data in every domain


def source_of(name: str) -> str:
    """The problem family from its name: ``amc12a_2019_p21`` -> ``amc``, ``mathd_algebra_10`` -> ``mathd``."""
    m = re.match(r"[A-Za-z]+", name)
    if not m:
        return "other"
    prefix = m.group(0).lower()
    return _SOURCE_ALIASES.get(prefix, prefix)


def is_theorem(statement: str) -> bool:
    """Does the statement declare a theorem/lemma (not a ``def`` of data)?"""
    return re.search(r"^\s*(?:theorem|lemma)\s+\S", statement, re.MULTILINE) is not None


def problem_from_row(row: Mapping[str, Any]) -> Problem:
    """One Lean ``Problem`` from a row; raises ``RowError`` naming the bad field."""
    if "name" in row:
        pid = require_str(row, "name")
    elif "id" in row:
        pid = require_str(row, "id")
    else:
        raise RowError("name", "is missing (give the statement's name as 'name' or 'id')")
    statement = require_str(row, "formal_statement")
    if not statement.rstrip().endswith((":= by", ":=")):
        raise RowError("formal_statement", f"must end in ':= by' or ':=', got ...{statement.rstrip()[-30:]!r}")
    if not is_theorem(statement):
        raise RowError("formal_statement", "must declare `theorem NAME ...` (or `lemma`)")
    fields: dict[str, str] = {}
    for key in ("header", "informal_prefix", "split", "source"):
        value = row.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise RowError(key, f"must be a string, got {type(value).__name__}")
        fields[key] = value
    split = fields.get("split", "")
    if split and split not in SPLITS:
        raise RowError("split", f"must be one of {SPLITS}, got {split!r}")
    meta = {"split": split, "source": fields.get("source") or source_of(pid)}
    return Problem(id=pid, domain="lean", statement=statement, header=fields.get("header", ""),
                   prompt=fields.get("informal_prefix", ""), meta=meta)


def load_lean_jsonl(path: str | Path, split: str | None = None, *, duplicates: str = "error",
                    skip_defs: bool = False) -> list[Problem]:
    """All problems of a Lean JSONL (optionally one split), in file order.

    ``skip_defs`` drops rows whose statement is a ``def`` (a construction, not a
    theorem; the Lean verifier checks theorems only) instead of failing on them.
    A name seen before is an error, or with ``duplicates="rename"`` becomes the
    id ``NAME~2``, ``NAME~3``... (ProofNet reuses exercise numbers across books).
    Raises ``LeanDataError`` ("FILE:LINE: field 'X': ...") on the first bad row,
    ``FileNotFoundError`` when the file is missing.
    """
    path = Path(path)
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be None or one of {SPLITS}, got {split!r}")
    if duplicates not in ("error", "rename"):
        raise ValueError(f"duplicates must be 'error' or 'rename', got {duplicates!r}")
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    for lineno, row in read_jsonl(path, what="Lean data file"):
        if skip_defs and isinstance(row.get("formal_statement"), str) and not is_theorem(row["formal_statement"]):
            continue
        try:
            problem = problem_from_row(row)
        except RowError as e:
            raise LeanDataError(f"{path}:{lineno}: {e}") from None
        if problem.id in seen:
            if duplicates == "error":
                raise LeanDataError(f"{path}:{lineno}: field 'name': {problem.id!r} repeats line "
                                    f"{seen[problem.id]} (names must be unique)")
            k = 2
            while f"{problem.id}~{k}" in seen:
                k += 1
            problem = dataclasses.replace(problem, id=f"{problem.id}~{k}")
        seen[problem.id] = lineno
        if split is None or problem.meta.get("split") == split:
            problems.append(problem)
    return problems


def _default(path: str | Path | None, filename: str) -> Path:
    return Path(path) if path is not None else data_file(filename)


def load_minif2f(split: str | None = None, path: str | Path | None = None) -> list[Problem]:
    """MiniF2F (488 statements, Mathlib header); ``split`` is ``valid``, ``test`` or None for both."""
    return load_lean_jsonl(_default(path, "minif2f.jsonl"), split)


def load_proofnet(split: str | None = None, path: str | Path | None = None) -> list[Problem]:
    """ProofNet theorems (357 of its 371 rows: the 14 ``def`` constructions are skipped; Mathlib header).

    Exercise names repeat across textbooks: repeats get the ids ``NAME~2``, ``NAME~3``...
    """
    return load_lean_jsonl(_default(path, "proofnet.jsonl"), split, duplicates="rename", skip_defs=True)


def load_minif2f_core(split: str | None = None, path: str | Path | None = None) -> list[Problem]:
    """MiniF2F-core: the MiniF2F statements core Lean can state (``data/minif2f_core.jsonl``,
    built by ``scripts/build_minif2f_core.py``; the header is a core-Lean prelude)."""
    p = Path(path) if path is not None else MINIF2F_CORE_PATH
    if not p.is_file():
        raise FileNotFoundError(f"{p} does not exist: build it with `python scripts/build_minif2f_core.py`")
    return load_lean_jsonl(p, split)


__all__ = [
    "LeanDataError",
    "MINIF2F_CORE_PATH",
    "SPLITS",
    "data_dir",
    "is_theorem",
    "load_lean_jsonl",
    "load_minif2f",
    "load_minif2f_core",
    "load_proofnet",
    "problem_from_row",
    "source_of",
]
