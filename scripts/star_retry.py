#!/usr/bin/env python
"""STaR retry then fine-tune, with privileged-information and garbage controls (docs/finetune.md).

    python scripts/star_retry.py --config configs/star_code.yaml [--field value ...]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prover.finetune.config import script_main  # noqa: E402
from prover.finetune.star import StarConfig, StarRun  # noqa: E402


def run(cfg: StarConfig, verifier: object = None) -> str:
    """The run; ``verifier``: an already started verifier of the domain to use (tests pass the warm Lean pool)."""
    summary = StarRun(cfg, verifier).run()
    return (Path(cfg.out_dir, "results.md").read_text()
            + f"\nsummary: {Path(cfg.out_dir, 'summary.json')}  stages: {summary['stages']}")


def main(argv: list[str] | None = None) -> int:
    return script_main(StarConfig, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
