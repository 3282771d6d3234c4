#!/usr/bin/env python
"""A controlled experiment over training arms, all from one start, same budget, held-out evaluation.

    python scripts/experiment.py --config configs/experiments/replay_ablation.yaml [--key value ...]

Runs every arm x seed in this one process with one shared Lean verifier; rerunning the same
command continues (a finished arm/seed is not redone). Writes results.json, results.md and
plot.png in out_dir (docs/experiment.md). It starts one wasm Lean worker (4-6 GB): on a machine
shared with other Lean jobs, keep to two workers at once.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from prover.experiment.config import ExperimentConfig  # noqa: E402
from prover.finetune.config import script_main  # noqa: E402


def run(cfg: ExperimentConfig) -> str:
    from prover.experiment.runner import Experiment

    results = Experiment(cfg).run()
    out = Path(cfg.out_dir)
    return (out / "results.md").read_text() + f"\nresults: {out / 'results.json'}, plot: {out / 'plot.png'}\n" \
        + f"arms: {list(results['arms'])}"


def main(argv: list[str] | None = None) -> int:
    return script_main(ExperimentConfig, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
