"""Which floating-point precision training runs in: one rule for every trainer (GRPO, SFT).

``auto`` is bf16 mixed precision on a GPU that supports it and plain fp32 everywhere else. TRL's
configs default to ``bf16=True`` even on CPU, where bf16 autocast is emulated on processors without
native bf16 (with gradient checkpointing, TRL's other CPU default, a LoRA SFT step of the warm start
took 117 s against 6.1 s in ``bench/sft_step.py`` on the 2-core reference machine); so the trainers
always pass the flags from here instead of TRL's defaults.
"""

from __future__ import annotations

from prover.config import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def precision_flags(precision: str, setting: str = "precision") -> dict[str, bool]:
    """``{"bf16": ..., "fp16": ...}`` for a TRL/transformers training config; ``setting`` names the
    config key in the error message."""
    if precision not in PRECISIONS:
        raise ConfigError(f"{setting}={precision!r}: use one of {', '.join(PRECISIONS)}")
    import torch

    gpu = torch.cuda.is_available()
    if precision == "auto":
        precision = "bf16" if gpu and torch.cuda.is_bf16_supported() else "fp32"
    if precision in ("bf16", "fp16") and not gpu:
        raise ConfigError(f"{setting}={precision} needs a GPU; use fp32 (or auto) on CPU")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}
