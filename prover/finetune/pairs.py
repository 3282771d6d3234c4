"""Training pairs and mined problems on disk as Hugging Face ``datasets`` with provenance."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

PROVENANCE = "provenance.json"


def save_rows(rows: Sequence[Mapping[str, Any]], path: str | os.PathLike[str], provenance: Mapping[str, Any]) -> Path:
    """Write ``rows`` as a ``datasets.Dataset`` at ``path`` plus ``provenance.json`` beside it.

    Written to a temporary directory then renamed, so a killed run never leaves half a set.
    """
    import datasets

    from prover.finetune.api import clean_obj

    out = Path(path)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        import shutil

        shutil.rmtree(tmp)
    rows = [dict(clean_obj(dict(r))) for r in rows]
    ds = datasets.Dataset.from_list(rows) if rows else datasets.Dataset.from_dict({})
    ds.save_to_disk(str(tmp))
    (tmp / PROVENANCE).write_text(json.dumps(clean_obj({**provenance, "rows": len(rows)}), indent=2, default=str))
    if out.exists():
        import shutil

        shutil.rmtree(out)
    tmp.rename(out)
    return out


def load_rows(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    import datasets

    p = Path(path)
    if not (p / PROVENANCE).is_file():
        raise FileNotFoundError(f"{p}: not a saved pair set (no {PROVENANCE}); run the collection stage first")
    if load_provenance(p).get("rows") == 0:
        return []  # an empty set: datasets cannot read back a table without rows
    ds = datasets.load_from_disk(str(p))
    return [dict(r) for r in ds]


def load_provenance(path: str | os.PathLike[str]) -> dict[str, Any]:
    return json.loads((Path(path) / PROVENANCE).read_text())


def exists(path: str | os.PathLike[str]) -> bool:
    return (Path(path) / PROVENANCE).is_file()
