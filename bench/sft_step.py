"""LoRA SFT step time: this project's SFT settings against TRL's own defaults, side by side.

    .venv/bin/python bench/sft_step.py [--steps 3] [--rounds 2] [--pairs 4] [--model embedded:smollm2-135m]

TRL's ``SFTConfig`` defaults to bf16 mixed precision and gradient checkpointing, on CPU too, where
bf16 autocast is emulated on processors without native bf16 instructions. ``train_sft`` sets both
from ``SFTSettings`` (``precision: auto`` = fp32 on CPU, ``gradient_checkpointing: false``). This
bench trains the warm start's LoRA adapter (its settings: rank 16 on all linear layers, max length
512) on the warm start's first pairs (core-Lean statements and their generator proofs) for
``--steps`` optimizer steps per run, alternating the two configurations for ``--rounds`` rounds so
load on a shared machine falls on both, and prints seconds per step. The last line is

    sft step speed-up: Rx (settings vs TRL defaults: bf16=B, gradient_checkpointing=G)
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from precision import alternate  # noqa: E402  (bench/, beside this file)

FINAL = "sft step speed-up: {r:.1f}x (settings vs TRL defaults: bf16={b}, gradient_checkpointing={g})"


def warm_pairs(n: int) -> list[dict[str, Any]]:
    """The first ``n`` pairs the default warm start trains on (generator statements, their known proofs;
    not checked here: only speed is measured)."""
    from prover.finetune.api import clean_text, first_attempt
    from prover.finetune.sft import pair_row
    from prover.finetune.warm_default import WarmStartOptions, candidate_pairs

    return [pair_row(first_attempt(p), clean_text(answer)) for p, answer in candidate_pairs(WarmStartOptions(pairs=n))]


def step_seconds(rows: Sequence[dict[str, Any]], model: str, steps: int, overrides: dict[str, Any]) -> float:
    """Seconds per optimizer step of one short LoRA run (model loading excluded); ``overrides`` replace
    fields of the settings' ``SFTConfig`` (TRL's defaults for the other configuration)."""
    import datasets
    import torch
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
    from trl import SFTTrainer

    from prover.finetune.api import resolve_model
    from prover.finetune.sft import LORA_TARGETS, sft_args
    from prover.finetune.warm_default import WarmStartOptions
    from prover.rl.trl_compat import quiet_gradient_checkpointing_rename

    path = resolve_model(model)
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    settings = dataclasses.replace(WarmStartOptions().sft_settings(), max_steps=steps, batch_size=len(rows))
    with tempfile.TemporaryDirectory(prefix="sft-step-") as out, quiet_gradient_checkpointing_rename():
        args = dataclasses.replace(sft_args(settings, out), **overrides)
        times: list[float] = []

        class Clock(TrainerCallback):
            def on_step_begin(self, *a: Any, **k: Any) -> None:
                times.append(time.perf_counter())

            def on_train_end(self, *a: Any, **k: Any) -> None:
                times.append(time.perf_counter())

        trainer = SFTTrainer(model=AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32), args=args,
                             train_dataset=datasets.Dataset.from_list([dict(r) for r in rows]), processing_class=tok,
                             peft_config=LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha,
                                                    target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM"),
                             callbacks=[Clock()])
        trainer.train()
    return (times[-1] - times[0]) / steps


def main(argv: Sequence[str] | None = None, *, say: Any = print) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=3, help="optimizer steps per run (default 3)")
    ap.add_argument("--rounds", type=int, default=2, help="runs of each configuration, alternating (default 2)")
    ap.add_argument("--pairs", type=int, default=4, help="pairs = the batch of one step (default 4, the warm start's)")
    ap.add_argument("--model", default="embedded:smollm2-135m", help="policy to fine-tune")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.rounds < 1 or args.pairs < 1:
        ap.error("--steps, --rounds and --pairs must be >= 1")
    import torch
    from trl import SFTConfig

    trl = SFTConfig(output_dir=tempfile.gettempdir(), use_cpu=not torch.cuda.is_available())
    # TRL's own defaults for the two fields train_sft sets
    trl_defaults = {"bf16": trl.bf16, "gradient_checkpointing": trl.gradient_checkpointing}
    rows = warm_pairs(args.pairs)
    say(f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"GPU {torch.cuda.is_available()}; {len(rows)} pairs, {args.steps} steps per run")
    runs = {False: 0, True: 0}

    def measure(defaults: bool) -> float:
        s = step_seconds(rows, args.model, args.steps, trl_defaults if defaults else {})
        runs[defaults] += 1
        say(f"round {runs[defaults]}: {'TRL defaults' if defaults else 'settings'}: {s:.1f} s per step")
        return s

    ours, theirs = alternate(args.rounds, measure)
    say(f"mean s per step: settings {ours:.1f}, TRL defaults {theirs:.1f}")
    line = FINAL.format(r=theirs / max(ours, 1e-9), b=trl.bf16, g=trl.gradient_checkpointing)
    say(line)
    return line


if __name__ == "__main__":
    main()
