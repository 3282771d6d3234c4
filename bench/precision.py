"""Training compute in fp32 against bf16 autocast on this CPU, side by side.

    .venv/bin/python bench/precision.py [--rounds 2] [--rows 8] [--tokens 150] [--model embedded:smollm2-135m]

What ``grpo.precision`` / ``sft.precision`` ``auto`` (``prover/policy/precision.py``) rests on: bf16
mixed precision (fp32 weights, bf16 matmuls under ``torch.autocast``) where the CPU has bf16
instructions. Alternating fp32 and bf16 for ``--rounds`` rounds (so load on a shared machine falls on
both), on torch's own thread count, it times

  * the matrix product of a training micro-batch (``rows x tokens`` x hidden 576 -> 1536) in GFLOP/s;
  * a full-model forward and backward plus AdamW step of the policy on ``rows`` random sequences of
    ``tokens`` tokens (the GRPO loss's shape: all parameters trained);
  * the same for a rank-16 LoRA adapter on all linear layers (the warm start's SFT shape).

The last line is

    bf16 autocast speed-up: Rx full-model step, Sx LoRA step (native bf16: yes|no; auto picks bf16|fp32)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

FINAL = "bf16 autocast speed-up: {full:.2f}x full-model step, {lora:.2f}x LoRA step (native bf16: {native}; auto picks {auto})"


def autocast(bf16: bool) -> Any:
    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


def matmul_gflops(rows: int, bf16: bool, seconds: float = 1.0) -> float:
    import torch

    dtype = torch.bfloat16 if bf16 else torch.float32
    a, w = torch.randn(rows, 576, dtype=dtype), torch.randn(1536, 576, dtype=dtype)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        torch.nn.functional.linear(a, w)
        n += 1
    return n * 2 * rows * 576 * 1536 / (time.perf_counter() - t0) / 1e9


def step_seconds(model: Any, ids: Any, bf16: bool, reps: int = 2) -> float:
    """Mean seconds of forward + backward + AdamW step over ``reps`` steps (after one untimed step)."""
    import torch

    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-6)

    def once() -> float:
        t0 = time.perf_counter()
        with autocast(bf16):
            loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        return time.perf_counter() - t0

    once()
    return sum(once() for _ in range(reps)) / reps


def alternate(rounds: int, measure: Callable[[bool], float]) -> tuple[float, float]:
    """Mean of ``measure(False)`` and ``measure(True)``, alternated ``rounds`` times."""
    got: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(rounds):
        for bf16 in (False, True):
            got[bf16].append(measure(bf16))
    return sum(got[False]) / rounds, sum(got[True]) / rounds


def main(argv: Sequence[str] | None = None, *, say: Any = print) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2, help="alternations of fp32 and bf16 (default 2)")
    ap.add_argument("--rows", type=int, default=8, help="sequences per step (default 8, a default GRPO step's)")
    ap.add_argument("--tokens", type=int, default=150, help="tokens per sequence (default 150)")
    ap.add_argument("--model", default="embedded:smollm2-135m", help="policy")
    args = ap.parse_args(argv)
    if min(args.rounds, args.rows, args.tokens) < 1:
        ap.error("--rounds, --rows and --tokens must be >= 1")
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from prover.finetune.api import resolve_model
    from prover.policy.precision import cpu_native_bf16, resolve_precision

    native = "yes" if cpu_native_bf16() else "no"
    auto = resolve_precision("auto")
    say(f"machine: {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, load "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; native bf16 {native}; steps of {args.rows} x "
        f"{args.tokens} tokens")
    mm32, mm16 = alternate(args.rounds, lambda bf16: matmul_gflops(args.rows * args.tokens, bf16))
    say(f"matmul {args.rows * args.tokens} x 576 -> 1536: fp32 {mm32:.1f} GFLOP/s, bf16 {mm16:.1f} GFLOP/s "
        f"({mm16 / mm32:.2f}x)")
    path = resolve_model(args.model)
    ids = torch.randint(100, 40000, (args.rows, args.tokens), generator=torch.Generator().manual_seed(0))
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    model.train()
    full32, full16 = alternate(args.rounds, lambda bf16: step_seconds(model, ids, bf16))
    say(f"full-model step: fp32 {full32:.2f} s, bf16 autocast {full16:.2f} s ({full32 / full16:.2f}x)")
    del model
    lora = get_peft_model(AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32),
                          LoraConfig(r=16, lora_alpha=32, target_modules="all-linear"))
    lora.train()
    lora32, lora16 = alternate(args.rounds, lambda bf16: step_seconds(lora, ids, bf16))
    say(f"LoRA rank-16 step: fp32 {lora32:.2f} s, bf16 autocast {lora16:.2f} s ({lora32 / lora16:.2f}x)")
    last = FINAL.format(full=full32 / full16, lora=lora32 / lora16, native=native, auto=auto)
    say(last)
    return last


if __name__ == "__main__":
    main()
