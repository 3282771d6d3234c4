#!/usr/bin/env python
"""Warm start: fine-tune a policy (LoRA or full) on verified reference pairs (docs/finetune.md).

    python scripts/warm_start.py --config configs/warm_start.yaml [--field value ...]

The result (out_dir/model) is a PEFT adapter (sft.lora_rank > 0; load with
PolicyConfig(lora_path=...)) or a full checkpoint (sft.lora_rank 0; PolicyConfig(model=...)).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prover.finetune.config import script_main  # noqa: E402
from prover.finetune.warm import WarmStartConfig, run_warm_start  # noqa: E402


def run(cfg: WarmStartConfig) -> str:
    summary = run_warm_start(cfg)
    return json.dumps({k: summary[k] for k in ("pairs", "model_dir", "train_loss", "lora")}, indent=2)


def main(argv: list[str] | None = None) -> int:
    return script_main(WarmStartConfig, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
