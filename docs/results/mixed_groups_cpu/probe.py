"""Probe: solve rate and share of mixed-reward groups per generator level and temperature, for warm-start variants.

    .venv/bin/python docs/results/mixed_groups_cpu/probe.py VARIANTS LEVELS TEMPERATURES PER_LEVEL N

VARIANTS: JSON {name: WarmStartOptions fields}; LEVELS, TEMPERATURES: JSON lists; PER_LEVEL problems of each
level (core-Lean generator seed 0, the RL default's), N samples each (zero-shot first attempts, 160 new tokens),
each checked by the real wasm Lean. A group is mixed when 0 < valid < N (GRPO has a signal there).
"""
import json, sys, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from prover.rl.config import TrainConfig  # noqa
from prover.finetune.api import load_policy, PolicyConfig, first_attempt, get_verifier
from prover.finetune.evaluate import sample_and_verify
from prover.finetune.warm_default import WarmStartOptions, ensure_warm_start
from prover.policy.embedded import resolve_model
from prover.data.core_lean import CoreLeanGenerator
from prover.verifiers.lean import LeanConfig

variants = json.loads(sys.argv[1])      # {"name": {"levels": [...], "pairs": 48, ...}}
levels = json.loads(sys.argv[2])        # [2,3,4]
temps = json.loads(sys.argv[3])         # [0.4, 1.0]
per_level = int(sys.argv[4]); n = int(sys.argv[5])
base = resolve_model("embedded:smollm2-135m", "~/.cache/prover")
ver = get_verifier("lean", LeanConfig(workers=1, timeout_s=60))
gen = CoreLeanGenerator(seed=0)
out = {}
try:
    for name, kw in variants.items():
        opts = WarmStartOptions(**kw)
        path, rec = ensure_warm_start(base, opts, str(Path("~/.cache/prover/warm_start").expanduser()), lambda: ver)
        pol = load_policy(PolicyConfig(model=str(path), device="cpu"))
        for lv in levels:
            probs = [gen.problem(lv, i) for i in range(per_level)]
            prompts = [first_attempt(p, few_shot=0) for p in probs]
            for t in temps:
                t0 = time.time()
                groups = sample_and_verify(pol, ver, probs, prompts, n=n, temperature=t, max_new_tokens=160, seed=0, chunk=16)
                ks = [sum(s.ok for s in g) for g in groups]
                mixed = sum(0 < k < n for k in ks) / len(ks)
                res = {"solve": sum(ks) / (n * len(ks)), "mixed": mixed, "ks": ks, "s": round(time.time() - t0)}
                out[f"{name} L{lv} T{t}"] = res
                print(name, lv, t, res, flush=True)
                for g in groups[:2]:
                    print("   ", repr(g[0].response[:200]), g[0].verdict.status, flush=True)
        del pol
finally:
    ver.close()
print(json.dumps(out, indent=1))
