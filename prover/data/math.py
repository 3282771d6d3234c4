"""GSM8K loader (through ``datasets``) -> ``list[Problem]`` (domain ``math``).

Reads ``<data dir>/gsm8k_{split}.jsonl`` in place; ``Problem.reference`` is the
number after ``####`` (thousands separators removed), ``meta['solution']`` the
worked solution.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from prover.data.code import data_dir, read_rows
from prover.types import Problem

GSM8K_SPLITS = ("train", "test")
_FINAL = re.compile(r"####\s*(.+?)\s*$", re.S)


def gsm8k_reference(answer: str) -> str:
    """The final number of a GSM8K answer (``... #### 1,234`` -> ``1234``)."""
    m = _FINAL.search(answer)
    if not m:
        raise ValueError(f"GSM8K answer without '####': {answer[-80:]!r}")
    return m.group(1).strip().replace(",", "").rstrip(".")


def gsm8k_problem(row: Mapping[str, Any], split: str, index: int) -> Problem:
    return Problem(
        id=f"gsm8k/{split}/{index}",
        domain="math",
        prompt=row["question"],
        reference=gsm8k_reference(row["answer"]),
        meta={"source": "gsm8k", "split": split, "solution": row["answer"]},
    )


def load_gsm8k(split: str = "test", path: str | Path | None = None, limit: int | None = None) -> list[Problem]:
    """GSM8K ``split`` (``train``: 7473, ``test``: 1319 problems)."""
    if split not in GSM8K_SPLITS:
        raise ValueError(f"split must be one of {GSM8K_SPLITS}, got {split!r}")
    rows = read_rows(path or data_dir() / f"gsm8k_{split}.jsonl", limit)
    return [gsm8k_problem(r, split, i) for i, r in enumerate(rows)]
