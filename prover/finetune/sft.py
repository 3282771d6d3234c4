"""One supervised fine-tuning step for every stage (warm start, STaR, self-mining).

``train_sft`` fine-tunes a causal LM with TRL's ``SFTTrainer`` on prompt/completion
pairs in conversational form (``prompt``: chat messages, ``completion``: one
assistant message); the loss is on the completion only. ``lora_rank > 0`` trains a
PEFT LoRA adapter (saved as a PEFT checkpoint that ``PolicyConfig.lora_path``
loads); ``lora_rank = 0`` trains all weights and saves a full checkpoint.
``prover.policy.adapters.merged_checkpoint`` folds an adapter into its base as a full checkpoint
(``<adapter>/merged``); every entry point does it by itself for an adapter directory given as the
model, or ahead of time:

    python -m prover.finetune.sft merge runs/selfmine_code/adapters/mix
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from prover.policy.adapters import MERGED, SFT_RECORD, merged_checkpoint  # noqa: F401  (re-exported: the merge CLI below)
from prover.policy.precision import PRECISIONS, precision_flags

log = logging.getLogger(__name__)

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DONE = SFT_RECORD


@dataclass
class SFTSettings:
    """How to fine-tune (shared by warm start, STaR and self-mining)."""

    lora_rank: int = field(default=16, metadata={"help": "LoRA rank; 0 trains all weights (full fine-tune)."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / rank)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA branch, in [0, 1)."})
    epochs: float = field(default=3.0, metadata={"help": "Passes over the pairs."})
    max_steps: int = field(default=0, metadata={"help": "Stop after this many optimizer steps; 0 = use epochs."})
    learning_rate: float = field(default=2e-4, metadata={"help": "Peak learning rate (2e-4 suits LoRA, ~1e-5 full)."})
    batch_size: int = field(default=4, metadata={"help": "Pairs per device step."})
    grad_accum: int = field(default=1, metadata={"help": "Device steps per optimizer step."})
    max_length: int = field(default=1024, metadata={"help": "Longest tokenized pair (prompt + completion); longer ones are cut."})
    seed: int = field(default=0, metadata={"help": "Training seed (data order, LoRA init)."})
    cpu_threads: int = field(default=0, metadata={"help": "torch threads on CPU; 0 keeps torch's default."})
    precision: str = field(default="auto", metadata={"help": "auto (bf16 where the GPU or CPU computes it natively, "
                                                             "else fp32), fp32, bf16 or fp16 (GPU); TRL's own default, "
                                                             "bf16 autocast on any CPU, is emulated and several times "
                                                             "slower on CPUs without bf16 instructions."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in the backward pass: "
                                                                          "less memory, ~1/3 more compute (large models)."})

    def __post_init__(self) -> None:
        if self.lora_rank < 0:
            raise ValueError(f"sft.lora_rank={self.lora_rank}: use 0 (full fine-tune) or a positive rank, e.g. 16")
        if self.lora_rank and self.lora_alpha < 1:
            raise ValueError(f"sft.lora_alpha={self.lora_alpha}: use a positive value, e.g. 2 x lora_rank")
        if not 0 <= self.lora_dropout < 1:
            raise ValueError(f"sft.lora_dropout={self.lora_dropout}: use a fraction in [0, 1)")
        if self.epochs <= 0 and self.max_steps <= 0:
            raise ValueError("sft.epochs and sft.max_steps are both <= 0: set epochs (e.g. 3) or max_steps")
        if self.max_steps < 0:
            raise ValueError(f"sft.max_steps={self.max_steps}: use 0 (epochs decide) or a positive step count")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"sft.learning_rate={self.learning_rate}: use a small positive value, e.g. 2e-4")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError(f"sft.batch_size={self.batch_size}, sft.grad_accum={self.grad_accum}: both must be >= 1")
        if self.max_length < 16:
            raise ValueError(f"sft.max_length={self.max_length}: use at least a few hundred tokens, e.g. 1024")
        if self.cpu_threads < 0:
            raise ValueError(f"sft.cpu_threads={self.cpu_threads}: use 0 (torch default) or a thread count")
        if self.precision not in PRECISIONS:
            raise ValueError(f"sft.precision={self.precision!r}: use one of {', '.join(PRECISIONS)}")


def pair_row(prompt: Sequence[Mapping[str, str]], completion: str, **provenance: Any) -> dict[str, Any]:
    """One training row: chat ``prompt`` -> assistant ``completion``, plus provenance columns."""
    from prover.finetune.api import clean_obj, clean_text

    row = {"prompt": [{"role": m["role"], "content": clean_text(m["content"])} for m in prompt],
           "completion": [{"role": "assistant", "content": clean_text(completion)}]}
    row.update(clean_obj(provenance))
    return row


def is_trained(out_dir: str | os.PathLike[str]) -> bool:
    return (Path(out_dir) / DONE).is_file()


def sft_args(settings: SFTSettings, output_dir: str | os.PathLike[str]) -> Any:
    """TRL's ``SFTConfig`` for ``settings``: every precision and checkpointing flag set from the settings,
    none left to TRL's defaults (bf16 autocast and gradient checkpointing even on CPU)."""
    import torch
    from trl import SFTConfig

    from prover.rl.trl_compat import quiet_gradient_checkpointing_rename

    with quiet_gradient_checkpointing_rename():
        return SFTConfig(
            output_dir=str(output_dir), num_train_epochs=settings.epochs, max_steps=settings.max_steps or -1,
            learning_rate=settings.learning_rate, per_device_train_batch_size=settings.batch_size,
            gradient_accumulation_steps=settings.grad_accum, max_length=settings.max_length, seed=settings.seed,
            completion_only_loss=True, packing=False, logging_steps=1, save_strategy="no", report_to=[],
            use_cpu=not torch.cuda.is_available(), lr_scheduler_type="constant",
            disable_tqdm=False, dataset_num_proc=None, gradient_checkpointing=settings.gradient_checkpointing,
            **precision_flags(settings.precision, "sft.precision"))


def train_sft(rows: Sequence[Mapping[str, Any]], base_model: str, out_dir: str | os.PathLike[str],
              settings: SFTSettings | None = None, *, provenance: Mapping[str, Any] | None = None) -> Path:
    """Fine-tune ``base_model`` on ``rows`` (see ``pair_row``) and save to ``out_dir``.

    ``base_model``: a checkpoint path, hub id or ``embedded:...`` name. Returns
    ``out_dir``. An ``out_dir`` already holding a finished run is reused (resume).
    """
    settings = settings or SFTSettings()
    out = Path(out_dir)
    if is_trained(out):
        log.info("sft: reusing finished run in %s", out)
        return out
    if not rows:
        raise ValueError(f"train_sft: no pairs to train on (output {out}); collect pairs first")
    import datasets
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from prover.finetune.api import resolve_model

    if settings.cpu_threads and not torch.cuda.is_available():
        torch.set_num_threads(settings.cpu_threads)
    path = resolve_model(base_model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    ds = datasets.Dataset.from_list([{"prompt": list(r["prompt"]), "completion": list(r["completion"])} for r in rows])
    peft_config = None
    if settings.lora_rank:
        from peft import LoraConfig

        peft_config = LoraConfig(r=settings.lora_rank, lora_alpha=settings.lora_alpha, lora_dropout=settings.lora_dropout,
                                 target_modules=list(LORA_TARGETS), task_type="CAUSAL_LM")
    from prover.rl.trl_compat import quiet_gradient_checkpointing_rename

    with quiet_gradient_checkpointing_rename():
        args = sft_args(settings, out / "trainer")
        trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer,
                             peft_config=peft_config)
        result = trainer.train()
    out.mkdir(parents=True, exist_ok=True)
    trainer.model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    record = {"base_model": base_model, "base_path": path, "pairs": len(rows), "settings": asdict(settings),
              "lora": bool(settings.lora_rank), "train_loss": result.training_loss, "losses": losses,
              "steps": trainer.state.global_step, "provenance": dict(provenance or {})}
    (out / DONE).write_text(json.dumps(record, indent=2, default=str))
    del trainer, model
    return out


def policy_for(base_model: str, trained_dir: str | os.PathLike[str] | None, **policy_kwargs: Any) -> Any:
    """A policy for ``base_model`` with the adapter (or full checkpoint) in ``trained_dir`` applied."""
    from prover.finetune.api import PolicyConfig, load_policy

    if trained_dir is None:
        return load_policy(PolicyConfig(model=base_model, **policy_kwargs))
    trained = Path(trained_dir)
    if (trained / "adapter_config.json").is_file():
        return load_policy(PolicyConfig(model=base_model, lora_path=str(trained), **policy_kwargs))
    return load_policy(PolicyConfig(model=str(trained), **policy_kwargs))


def main(argv: Sequence[str] | None = None) -> int:
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) not in (2, 3) or args[0] != "merge":
        print("usage: python -m prover.finetune.sft merge ADAPTER_DIR [BASE_MODEL]", file=sys.stderr)
        return 2
    try:
        print(merged_checkpoint(args[1], args[2] if len(args) == 3 else ""))
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
