#!/usr/bin/env python
"""Self-mining: invent problems with tests, solve, fine-tune on (broken, working) pairs, with controls (docs/finetune.md).

    python scripts/star_retry.py --config configs/selfmine_code.yaml [--field value ...]
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prover.finetune.config import ConfigError, load_config  # noqa: E402
from prover.finetune.selfmine import SelfMineConfig, SelfMineRun  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        cfg = load_config(SelfMineConfig, argv)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    summary = SelfMineRun(cfg).run()
    print(Path(cfg.out_dir, "results.md").read_text())
    print(f"summary: {Path(cfg.out_dir, 'summary.json')}  rounds: {summary['rounds']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
