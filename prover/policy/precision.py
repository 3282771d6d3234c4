"""Which floating-point precision training runs in: one rule for every trainer (GRPO, SFT).

``auto`` is bf16 mixed precision (fp32 weights and optimizer, bf16 matmuls under autocast) where the
hardware computes bf16 natively: a GPU that supports it, or a CPU with bf16 instructions
(``avx512_bf16`` or AMX, read from ``/proc/cpuinfo``); plain fp32 everywhere else. On the 2-core
reference machine (AMD EPYC with avx512_bf16; ``bench/precision.py``, docs/results/train_step_cpu/)
the product of a training micro-batch ran 2.64x faster in bf16, a full-model training step of the
135M policy 1.63x and a LoRA step 1.47x. Without native instructions bf16 autocast is emulated: TRL's configs
default to ``bf16=True`` even on such CPUs, where (with gradient checkpointing, TRL's other CPU
default) a LoRA SFT step of the warm start took 117 s against 6.1 s in ``bench/sft_step.py``; so the
trainers always pass the flags from here instead of TRL's defaults.

Nothing here changes a GPU run: ``auto`` there is what it always was.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

from prover.config import ConfigError

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
# /proc/cpuinfo flags of CPUs that multiply bf16 natively (AVX-512 BF16; Intel AMX).
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})

log = logging.getLogger(__name__)


@functools.lru_cache(maxsize=1)
def cpu_native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU has bf16 instructions (Linux: the ``flags`` line of ``/proc/cpuinfo``;
    False where it cannot be read)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            return bool(NATIVE_BF16_FLAGS & set(line.partition(":")[2].split()))
    return False


def resolve_precision(precision: str, setting: str = "precision") -> str:
    """``fp32``, ``bf16`` or ``fp16`` for a configured value (``auto`` resolved for this machine);
    ``setting`` names the config key in the error message."""
    if precision not in PRECISIONS:
        raise ConfigError(f"{setting}={precision!r}: use one of {', '.join(PRECISIONS)}")
    import torch

    gpu = torch.cuda.is_available()
    if precision == "auto":
        native = torch.cuda.is_bf16_supported() if gpu else cpu_native_bf16()
        return "bf16" if native else "fp32"
    if precision == "fp16" and not gpu:
        raise ConfigError(f"{setting}=fp16 needs a GPU; use fp32, bf16 or auto on CPU")
    if precision == "bf16" and not gpu and not cpu_native_bf16():
        log.warning("%s=bf16 on a CPU without bf16 instructions: autocast is emulated and slower than fp32 "
                    "(auto picks fp32 here)", setting)
    return precision


def precision_flags(precision: str, setting: str = "precision") -> dict[str, bool]:
    """``{"bf16": ..., "fp16": ...}`` for a TRL/transformers training config."""
    resolved = resolve_precision(precision, setting)
    return {"bf16": resolved == "bf16", "fp16": resolved == "fp16"}


__all__ = ["NATIVE_BF16_FLAGS", "PRECISIONS", "cpu_native_bf16", "precision_flags", "resolve_precision"]
