#!/usr/bin/env python
"""STaR retry then fine-tune, with privileged-information and garbage controls (docs/finetune.md).

    python scripts/star_retry.py --config configs/star_code.yaml [--field value ...]
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prover.finetune.config import ConfigError, load_config  # noqa: E402
from prover.finetune.star import StarConfig, StarRun  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    try:
        cfg = load_config(StarConfig, argv)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    summary = StarRun(cfg).run()
    print(Path(cfg.out_dir, "results.md").read_text())
    print(f"summary: {Path(cfg.out_dir, 'summary.json')}  stages: {summary['stages']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
