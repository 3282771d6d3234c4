"""Reading data files: the one JSONL reader, the one data-directory setting, row-field checks.

Every loader reads JSON lines through ``read_jsonl``, so every bad input gets
the same kind of error: ``DataError("FILE:LINE: field 'X': what is wrong")``.
The shared data directory is ``$PROVER_DATA_DIR`` when set, else
``../shared/data`` next to the repository root; files are read in place.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any, Iterator, Mapping

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR_ENV = "PROVER_DATA_DIR"


class DataError(ValueError):
    """Bad input data: the message names the file, the line and the field."""


class RowError(ValueError):
    """A malformed row: names the field that is wrong and why (the reader adds file and line)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field {field!r}: {message}")
        self.field = field
        self.message = message


def data_dir() -> Path:
    """The shared data directory: ``$PROVER_DATA_DIR``, else ``<repo>/../shared/data``."""
    env = os.environ.get(DATA_DIR_ENV)
    return Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"


def data_file(name: str) -> Path:
    """``name`` inside the data directory."""
    return data_dir() / name


def require_file(path: str | Path, what: str = "data file") -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"{what} {p} does not exist: set {DATA_DIR_ENV} to the shared data directory "
                                f"(now {data_dir()}), or pass the file's path")
    return p


def read_jsonl(path: str | Path, *, what: str = "data file") -> Iterator[tuple[int, dict[str, Any]]]:
    """``(line number, row)`` for every non-blank line of a JSONL file (``.gz`` too).

    Raises ``FileNotFoundError`` for a missing file and ``DataError`` naming the file
    and line for a line that is not a JSON object.
    """
    p = require_file(path, what)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rt", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise DataError(f"{p}:{lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
            if not isinstance(row, dict):
                raise DataError(f"{p}:{lineno}: each line must be a JSON object, got {type(row).__name__}")
            yield lineno, row


def require_str(row: Mapping[str, Any], field: str, *, allow_empty: bool = False) -> str:
    """Read a string field from a row, raising ``RowError`` naming it."""
    if field not in row:
        raise RowError(field, "is missing")
    value = row[field]
    if not isinstance(value, str):
        raise RowError(field, f"must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RowError(field, "must not be empty")
    return value


def optional_str(row: Mapping[str, Any], field: str) -> str:
    """A string field that may be absent or null (-> "")."""
    value = row.get(field)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RowError(field, f"must be a string, got {type(value).__name__}")
    return value


def str_list(row: Mapping[str, Any], field: str, *, required: bool = True) -> tuple[str, ...]:
    value = row.get(field)
    if value is None and not required:
        return ()
    if not isinstance(value, list) or (required and not value) or not all(isinstance(v, str) for v in value):
        raise RowError(field, "must be a non-empty list of strings" if required else "must be a list of strings")
    return tuple(value)


__all__ = [
    "DATA_DIR_ENV",
    "DataError",
    "REPO_ROOT",
    "RowError",
    "data_dir",
    "data_file",
    "optional_str",
    "read_jsonl",
    "require_file",
    "require_str",
    "str_list",
]
