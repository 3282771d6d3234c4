"""Where a batch-8 decode step of SmolLM2-135M goes on CPU (1 torch thread), and dynamic vs static KV cache.

    .venv/bin/python docs/results/train_step_cpu/profile_decode.py

Random token ids (300-token prompts, batch 8), fp32. Prints: generate of 60 tokens (prefill included),
the prefill alone, the model's own decode forward per step, a torch-profiler table of 10 decode steps,
and generate with ``cache_implementation`` dynamic vs static.
"""
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from transformers import AutoModelForCausalLM, DynamicCache  # noqa: E402

from prover.policy.embedded import resolve_model  # noqa: E402

torch.set_num_threads(1)
m = AutoModelForCausalLM.from_pretrained(resolve_model("embedded:smollm2-135m"), dtype=torch.float32).eval()
ids = torch.randint(5, 1000, (8, 300))
mask = torch.ones_like(ids)
kw = dict(max_new_tokens=60, min_new_tokens=60, do_sample=True, top_k=0, pad_token_id=2)
with torch.no_grad():
    t0 = time.time()
    m.generate(input_ids=ids, attention_mask=mask, **kw)
    print(f"generate 60 tokens: {time.time() - t0:.2f}s, {(time.time() - t0) / 60 * 1000:.0f} ms/step (incl prefill)")
    cache = DynamicCache(config=m.config)
    t0 = time.time()
    m(input_ids=ids, attention_mask=mask, cache=cache, use_cache=True, logits_to_keep=1)
    print(f"prefill {time.time() - t0:.2f}s")
    nxt, am = torch.randint(5, 1000, (8, 1)), mask
    t0 = time.time()
    for _ in range(60):
        am = torch.cat([am, torch.ones(8, 1, dtype=am.dtype)], 1)
        m(input_ids=nxt, attention_mask=am, cache=cache, use_cache=True, logits_to_keep=1)
    print(f"raw forward decode: {(time.time() - t0) / 60 * 1000:.0f} ms/step")
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(10):
            am = torch.cat([am, torch.ones(8, 1, dtype=am.dtype)], 1)
            m(input_ids=nxt, attention_mask=am, cache=cache, use_cache=True, logits_to_keep=1)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=14))
    for impl in ("dynamic", "static"):
        extra = {"cache_implementation": "static"} if impl == "static" else {}
        torch.manual_seed(0)
        t0 = time.time()
        m.generate(input_ids=ids, attention_mask=mask, **kw, **extra)
        print(impl, f"300-token prompt generate 60 tokens: {(time.time() - t0) / 60 * 1000:.0f} ms/step")
