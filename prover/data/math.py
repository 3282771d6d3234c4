"""GSM8K rows -> ``Problem`` (domain ``math``).

Reads ``<data dir>/gsm8k_{split}.jsonl`` in place; the id is ``gsm8k/<split>/<row index>``,
``Problem.reference`` the number after ``####`` (thousands separators and a
trailing "." removed), ``meta['solution']`` the worked solution. Use
``prover.data.load("gsm8k", split=...)`` rather than this loader directly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Mapping

from prover.data.rows import DataError, RowError, data_file, read_jsonl, require_str
from prover.types import Problem

GSM8K_SPLITS = ("train", "test")
_FINAL = re.compile(r"####\s*(.+?)\s*$", re.S)


def gsm8k_reference(answer: str) -> str:
    """The final number of a GSM8K answer (``... #### 1,234`` -> ``1234``)."""
    m = _FINAL.search(answer)
    if not m:
        raise RowError("answer", f"a GSM8K answer ends with '#### <number>', got ...{answer[-80:]!r}")
    return m.group(1).strip().replace(",", "").rstrip(".")


def gsm8k_problem(row: Mapping[str, Any], split: str, index: int) -> Problem:
    """A GSM8K row (``question``, ``answer``); ``id`` from the row when it has one."""
    answer = require_str(row, "answer")
    pid = row.get("id")
    return Problem(
        id=str(pid) if pid else f"gsm8k/{split}/{index}",
        domain="math",
        prompt=require_str(row, "question"),
        reference=gsm8k_reference(answer),
        meta={"source": "gsm8k", "split": split, "solution": answer},
    )


def load_gsm8k(split: str = "test", path: str | Path | None = None, limit: int | None = None) -> list[Problem]:
    """GSM8K ``split`` (``train``: 7473, ``test``: 1319 problems)."""
    if split not in GSM8K_SPLITS:
        raise ValueError(f"split must be one of {GSM8K_SPLITS}, got {split!r}")
    file = path or data_file(f"gsm8k_{split}.jsonl")
    out: list[Problem] = []
    for index, (lineno, row) in enumerate(read_jsonl(file)):
        if limit and len(out) >= limit:
            break
        try:
            out.append(gsm8k_problem(row, split, index))
        except RowError as e:
            raise DataError(f"{file}:{lineno}: {e}") from None
    return out
