#!/usr/bin/env python
"""RL training with error-correction replay (GRPO on TRL).

    python scripts/train_prover.py                       # embedded default: SmolLM2-135M on CPU, wasm Lean
    python scripts/train_prover.py --config configs/minif2f_kimina.yaml
    python scripts/train_prover.py --grpo.learning_rate 1e-5 --steps 10
    python scripts/train_prover.py --resume runs/20250101-120000       # continue a killed run
    accelerate launch --config_file configs/accelerate_zero2.yaml scripts/train_prover.py --config ...

Options: --config FILE, --resume RUN|CKPT|auto, and any config key as --key value
(dotted for sections, e.g. --lean.workers 2). --help lists every key.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")


def main(argv: list[str]) -> int:
    from prover.rl.config import ConfigError, config_from_argv, help_text

    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        print(help_text())
        return 0
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "urllib3", "filelock"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        cfg = config_from_argv(argv)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    from prover.rl.trainer import run

    try:
        result = run(cfg)
    except ConfigError as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    print("\ntraining finished\n" + result.summary(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
