"""Warm start: supervised fine-tuning on verified (statement, proof/solution) pairs before RL.

Pairs per domain, each checked by the project's real verifier before it is used:
- ``lean``: core-Lean generator statements with the proof the generator knows by
  construction, checked by the real Lean;
- ``code``: MBPP train problems with their reference code, run against their tests
  in the sandbox;
- ``math``: GSM8K train questions with their worked solutions (calculator notes removed,
  the final answer boxed), checked by the math verifier.
Rejected pairs are counted and dropped. The pairs are saved as a ``datasets`` set with
provenance and the model is fine-tuned by ``prover.finetune.sft.train_sft``.
"""

from __future__ import annotations

import logging
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from prover.finetune import pairs
from prover.finetune.api import Problem, first_attempt, lean_reference, load_problems, make_verifier, verify
from prover.finetune.sft import SFTSettings, pair_row, train_sft

log = logging.getLogger(__name__)

_CALC = re.compile(r"<<[^<>]*>>")


@dataclass
class WarmStartConfig:
    """Warm start (scripts/warm_start.py)."""

    out_dir: str = field(default="runs/warm_start", metadata={"help": "Where pairs, the adapter/checkpoint and summary go."})
    model: str = field(default="embedded:smollm2-135m", metadata={"help": "Base model to fine-tune."})
    domains: list[str] = field(default_factory=lambda: ["code", "math"],
                               metadata={"help": "Domains to draw pairs from: code, math, lean (lean starts the real wasm Lean)."})
    code_limit: int = field(default=64, metadata={"help": "MBPP train problems (reference code, checked in the sandbox)."})
    math_limit: int = field(default=64, metadata={"help": "GSM8K train problems (worked solutions, checked by the math verifier)."})
    lean_limit: int = field(default=32, metadata={"help": "Core-Lean generator problems (reference proofs, checked by the real Lean)."})
    lean_seed: int = field(default=0, metadata={"help": "Generator seed for training statements (keep evaluation seeds different)."})
    lean_levels: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "Generator levels, problems split evenly."})
    lean_workers: int = field(default=1, metadata={"help": "Real Lean workers (wasm: 4-6 GB each; 1 on a laptop)."})
    sft: SFTSettings = field(default_factory=lambda: SFTSettings(epochs=1.0),
                             metadata={"help": "Fine-tuning settings; sft.lora_rank 0 = full fine-tune."})

    def __post_init__(self) -> None:
        bad = [d for d in self.domains if d not in ("code", "math", "lean")]
        if bad or not self.domains:
            raise ValueError(f"domains={self.domains}: give one or more of code, math, lean")
        for name in ("code_limit", "math_limit", "lean_limit", "lean_workers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")
        if any(not 0 <= lv <= 9 for lv in self.lean_levels) or not self.lean_levels:
            raise ValueError(f"lean_levels={self.lean_levels}: give generator levels such as [0, 1, 2]")


def gsm8k_solution(problem: Problem) -> str:
    """A GSM8K worked solution as a model answer: calculator notes removed, final answer boxed."""
    text = _CALC.sub("", str(problem.meta.get("solution", "")))
    body = text.split("####")[0].strip()
    return f"{body}\n\nThe answer is \\boxed{{{problem.reference}}}."


def candidates(cfg: WarmStartConfig, domain: str) -> list[tuple[Problem, str]]:
    """(problem, answer) before verification."""
    if domain == "code":
        return [(p, f"```python\n{p.meta['reference_code'].strip()}\n```") for p in load_problems("mbpp:train", cfg.code_limit)]
    if domain == "math":
        return [(p, gsm8k_solution(p)) for p in load_problems("gsm8k:train", cfg.math_limit)]
    per = -(-cfg.lean_limit // len(cfg.lean_levels))
    out = []
    for level in cfg.lean_levels:
        out += [(p, lean_reference(p)) for p in load_problems(f"core_lean:{cfg.lean_seed}:{level}", per)]
    return out[:cfg.lean_limit]


def verified_pairs(cfg: WarmStartConfig) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    rows: list[dict[str, Any]] = []
    counts: dict[str, dict[str, int]] = {}
    for domain in cfg.domains:
        cands = candidates(cfg, domain)
        verifier = make_verifier(domain, lean_workers=cfg.lean_workers)
        try:
            verdicts = verify(verifier, [p for p, _ in cands], [a for _, a in cands])
        finally:
            verifier.close()
        kept = 0
        for (p, answer), v in zip(cands, verdicts):
            if v.status.value == "valid":
                kept += 1
                rows.append(pair_row(first_attempt(p), answer, problem_id=p.id, domain=domain, source="reference",
                                     verified_by=f"{domain} verifier"))
        counts[domain] = {"candidates": len(cands), "verified": kept, "rejected": len(cands) - kept}
        log.info("warm start %s: %d of %d reference pairs verified", domain, kept, len(cands))
    return rows, counts


def run_warm_start(cfg: WarmStartConfig) -> dict[str, Any]:
    import json

    out = Path(cfg.out_dir)
    pair_dir = out / "pairs"
    if pairs.exists(pair_dir):
        rows, counts = pairs.load_rows(pair_dir), pairs.load_provenance(pair_dir)["counts"]
    else:
        rows, counts = verified_pairs(cfg)
        pairs.save_rows(rows, pair_dir, {"stage": "warm_start", "counts": counts, "config": asdict(cfg)})
    trained = train_sft(rows, cfg.model, out / "model", cfg.sft, provenance={"stage": "warm_start", "counts": counts})
    done = json.loads((trained / "sft_done.json").read_text())
    summary = {"config": asdict(cfg), "pairs": counts, "model_dir": str(trained), "train_loss": done["train_loss"],
               "losses": done["losses"], "lora": done["lora"]}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    _plot_loss(done["losses"], out / "plot.png")
    return summary


def _plot_loss(losses: list[float], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(range(1, len(losses) + 1), losses, marker=".")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss (completion tokens)")
    ax.set_title("warm start", fontsize=10)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
