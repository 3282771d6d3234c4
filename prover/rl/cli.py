"""``prover train`` / ``scripts/train_prover.py``: RL training with error-correction replay (GRPO on TRL).

    prover train                                       # embedded default: SmolLM2-135M on CPU, wasm Lean
    prover train --config configs/minif2f_kimina.yaml
    prover train --grpo.learning_rate 1e-5 --steps 10
    prover train --resume runs/20250101-120000         # continue a killed run
    accelerate launch --config_file configs/accelerate_zero2.yaml scripts/train_prover.py --config ...

Options: --config FILE, --resume RUN|CKPT|auto, and any config key as --key value
(dotted for sections, e.g. --lean.workers 2; --trl.<field> for any other
trl.GRPOConfig field); the same syntax as ``prover eval``. --help lists every key.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    from prover.config import ConfigError
    from prover.rl.config import config_from_argv, help_text

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:
        argv = argv[1:]
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
    from prover.data import DataError
    from prover.rl.trainer import run
    from prover.rl.trl_compat import TRLVersionError

    try:
        result = run(cfg)
    except (ConfigError, DataError, TRLVersionError) as e:
        print(f"config error: {e}", file=sys.stderr)
        return 2
    print("\ntraining finished\n" + result.summary(), flush=True)
    return 0


__all__ = ["main"]
