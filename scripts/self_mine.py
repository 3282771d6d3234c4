#!/usr/bin/env python
"""Self-mining: invent problems with tests, solve, fine-tune on (broken, working) pairs, with controls (docs/finetune.md).

    python scripts/self_mine.py --config configs/selfmine_code.yaml [--field value ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prover.finetune.config import script_main  # noqa: E402
from prover.finetune.selfmine import SelfMineConfig, SelfMineRun  # noqa: E402


def run(cfg: SelfMineConfig, verifier: object = None) -> str:
    """The run; ``verifier``: an already started verifier of the domain to use (tests pass the warm Lean pool)."""
    summary = SelfMineRun(cfg, verifier).run()
    return (Path(cfg.out_dir, "results.md").read_text()
            + f"\nsummary: {Path(cfg.out_dir, 'summary.json')}  rounds: {summary['rounds']}")


def main(argv: list[str] | None = None) -> int:
    return script_main(SelfMineConfig, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
