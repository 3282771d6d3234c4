"""Generation speed on CPU by torch thread count, on an idle machine and with cores held busy.

    .venv/bin/python bench/generation_threads.py [--busy 0,1] [--new-tokens 32] [--batch 8]

For each ``--busy`` count, that many spinning processes hold cores (what the Lean checker or another
job does while the policy generates); then, alternating, the decode-shaped matrix product (batch
rows x hidden, the shape of every layer of a decode step) and a ``generate`` of the embedded model
(batch 8, the same prompt, ``--new-tokens`` new tokens, sampling at the trainer's temperature) run
on 1 thread and on torch's own count. This is what ``model.generation_threads`` (auto: 1,
``prover/policy/threads.py``) rests on. The last line is

    generation on 1 thread: Rx (idle), Sx (with B busy core(s)) the speed of N threads
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def spin(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for _ in range(100_000):
            x += 1


def matmul_gflops(threads: int, batch: int, out_features: int = 1536, seconds: float = 1.0, *,
                  bf16: bool = False) -> float:
    """GFLOP/s of the decode-shaped product (``batch`` rows x hidden 576 -> ``out_features``) on ``threads``,
    in fp32 or (``bf16``) bf16."""
    import torch

    from prover.policy.threads import torch_threads

    dtype = torch.bfloat16 if bf16 else torch.float32
    a, w = torch.randn(batch, 576, dtype=dtype), torch.randn(out_features, 576, dtype=dtype)
    with torch_threads(threads):
        t0, n = time.perf_counter(), 0
        while time.perf_counter() - t0 < seconds:
            for _ in range(64):
                torch.nn.functional.linear(a, w)
            n += 64
        return n * 2 * batch * 576 * out_features / (time.perf_counter() - t0) / 1e9


def generate_tok_s(model: Any, inputs: Any, threads: int, new_tokens: int) -> float:
    import torch

    from prover.policy.threads import torch_threads

    with torch_threads(threads), torch.no_grad():
        t0 = time.perf_counter()
        model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=True,
                       temperature=0.4)
        return inputs["input_ids"].shape[0] * new_tokens / (time.perf_counter() - t0)


def main(argv: Sequence[str] | None = None, *, say: Any = print) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--busy", default="0,1", help="comma-separated counts of cores held busy (default 0,1)")
    ap.add_argument("--new-tokens", type=int, default=32, help="new tokens per generate (default 32)")
    ap.add_argument("--batch", type=int, default=8, help="rows per generate (default 8, the default step's)")
    ap.add_argument("--rounds", type=int, default=2, help="alternations per setting (default 2)")
    ap.add_argument("--model", default="embedded:smollm2-135m", help="policy")
    args = ap.parse_args(argv)
    busy_counts = [int(b) for b in args.busy.split(",") if b.strip()]
    if not busy_counts or min(busy_counts) < 0 or args.new_tokens < 1 or args.batch < 1 or args.rounds < 1:
        ap.error("--busy needs counts >= 0; --new-tokens, --batch and --rounds >= 1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prover.finetune.api import resolve_model

    own = torch.get_num_threads()
    path = resolve_model(args.model)
    tok = AutoTokenizer.from_pretrained(path)
    tok.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    prompt = "theorem add_comm' (a b : Nat) : a + b = b + a := by"
    inputs = tok([prompt * 4] * args.batch, return_tensors="pt")
    say(f"machine: {os.cpu_count()} cores, torch threads {own}; batch {args.batch}, {args.new_tokens} new tokens")
    ratios: dict[int, float] = {}
    for busy in busy_counts:
        stop = mp.Event()
        spinners = [mp.Process(target=spin, args=(stop,), daemon=True) for _ in range(busy)]
        for p in spinners:
            p.start()
        try:
            rates: dict[int, list[float]] = {1: [], own: []}
            gflops: dict[int, list[float]] = {1: [], own: []}
            for _ in range(args.rounds):
                for threads in dict.fromkeys((1, own)):
                    gflops[threads].append(matmul_gflops(threads, args.batch))
                    rates[threads].append(generate_tok_s(model, inputs, threads, args.new_tokens))
        finally:
            stop.set()
            for p in spinners:
                p.join(timeout=10)
                if p.is_alive():
                    p.kill()
        for threads in dict.fromkeys((1, own)):
            say(f"busy cores {busy}: {threads} thread(s): decode-shaped matmul "
                f"{sum(gflops[threads]) / len(gflops[threads]):.1f} GFLOP/s, generate "
                f"{sum(rates[threads]) / len(rates[threads]):.1f} tok/s")
        ratios[busy] = (sum(rates[1]) / len(rates[1])) / max(sum(rates[own]) / len(rates[own]), 1e-9)
    parts = [f"{r:.2f}x" + (" (idle)" if b == 0 else f" (with {b} busy core(s))") for b, r in ratios.items()]
    line = f"generation on 1 thread: {', '.join(parts)} the speed of {own} threads"
    say(line)
    return line


if __name__ == "__main__":
    main()
