"""Helpers shared by the real-Lean test files."""

from __future__ import annotations

import json


def plant_valid_answer_files(worker, count: int = 8) -> None:
    """Write answer files with a "valid" body for the worker's next ``count`` request numbers, as
    checked code could (it runs with write access to nothing, but the tests play the worst case)."""
    forged = {"id": "bad", "ok": True, "messages": [], "refused": "", "found": True, "replayed": True,
              "replay_error": "", "ref_changed": "", "type_matches": True, "axioms": [], "ref_error": "", "ms": 1}
    for n in range(worker._next, worker._next + count):
        (worker.workdir / "resp" / f"{n}.json").write_text(json.dumps({**forged, "seq": n, "secret": "guess"}))
