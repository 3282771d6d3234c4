"""The warm start of the RL default: core-Lean generator proofs -> LoRA SFT -> a merged model, cached.

``python scripts/train_prover.py`` (embedded SmolLM2, domain lean) first fine-tunes the
base model on ``(statement, proof)`` pairs whose proofs the core-Lean generator knows by
construction, each checked by the real Lean (the run's own verifier) before it is used.
The LoRA adapter is merged, so RL, evaluation and vLLM see a plain checkpoint. The result
is cached under ``cache_dir`` keyed by everything that determines it (base checkpoint,
the candidate pairs, the fine-tuning settings, the TRL/PEFT/transformers versions); a
second run reuses it without touching the verifier. RL then starts zero-shot from it.

Generator seeds: the warm start draws from ``seed`` (default 1000); held-out evaluation
(``prover.experiment``) uses seeds from 1,000,000 up, RL training its run seed.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from prover.policy.precision import resolve_precision

log = logging.getLogger(__name__)

MODES = ("auto", "true", "false")
DONE = "warm_start.json"
FORMAT_VERSION = 1  # bump when the pairs, prompt or merge change meaning


@dataclass
class WarmStartOptions:
    """The warm start before RL (``warm_start:`` in the training config)."""

    enabled: str = field(default="auto", metadata={
        "help": f"One of {MODES}: auto = on for the embedded model on domain lean (it writes no Lean zero-shot "
                "otherwise), true = on for any lean policy, false = RL starts from the base model."})
    pairs: int = field(default=48, metadata={"help": "Core-Lean generator (statement, proof) pairs, each checked by "
                                                     "the real Lean before training."})
    levels: list[int] = field(default_factory=lambda: [0, 1, 2],
                              metadata={"help": "Generator levels the pairs are drawn from, round-robin (RL then "
                                                "starts at the next level, problems.difficulty.start_level 3)."})
    seed: int = field(default=1000, metadata={"help": "Generator seed of the warm-start statements (keep it away "
                                                      "from evaluation seeds, >= 1,000,000 in prover.experiment)."})
    lora_rank: int = field(default=16, metadata={"help": "LoRA rank (merged into the weights after training); "
                                                         "0 = full fine-tune."})
    epochs: float = field(default=1.0, metadata={"help": "Passes over the pairs."})
    max_steps: int = field(default=0, metadata={"help": "Stop after this many optimizer steps; 0 = epochs decide "
                                                        "(tests use 1)."})
    learning_rate: float = field(default=5e-4, metadata={"help": "Peak learning rate of the SFT (LoRA)."})
    batch_size: int = field(default=4, metadata={"help": "Pairs per optimizer step."})
    cache_dir: str = field(default="", metadata={"help": "Where merged warm-started models are cached; empty = "
                                                         "<model.cache_dir>/warm_start."})

    def __post_init__(self) -> None:
        self.enabled = {"on": "true", "off": "false", "yes": "true", "no": "false"}.get(
            str(self.enabled).lower(), str(self.enabled).lower())
        if self.enabled not in MODES:
            raise ValueError(f"warm_start.enabled={self.enabled!r}: use one of {MODES}")
        if self.pairs < 1:
            raise ValueError(f"warm_start.pairs={self.pairs}: use at least 1 pair (default 48)")
        if not self.levels or any(not 0 <= lv <= 5 for lv in self.levels):
            raise ValueError(f"warm_start.levels={self.levels}: give generator levels in 0..5, e.g. [0, 1, 2, 3]")
        if self.seed < 0 or self.seed >= 1_000_000:
            raise ValueError(f"warm_start.seed={self.seed}: use a seed in [0, 1000000) (higher seeds are held out "
                             "for evaluation)")
        if self.lora_rank < 0 or self.max_steps < 0 or self.batch_size < 1:
            raise ValueError("warm_start.lora_rank and warm_start.max_steps must be >= 0, warm_start.batch_size >= 1")
        if self.epochs <= 0 and self.max_steps == 0:
            raise ValueError("warm_start.epochs <= 0 and max_steps = 0: set epochs (e.g. 1) or max_steps")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"warm_start.learning_rate={self.learning_rate}: use a small positive rate, e.g. 5e-4")

    def sft_settings(self) -> Any:
        from prover.finetune.sft import SFTSettings

        return SFTSettings(lora_rank=self.lora_rank, lora_alpha=2 * max(1, self.lora_rank), epochs=self.epochs,
                           max_steps=self.max_steps, learning_rate=self.learning_rate, batch_size=self.batch_size,
                           max_length=512, seed=self.seed)


def candidate_pairs(opts: WarmStartOptions) -> list[tuple[Any, str]]:
    """(problem, reference answer) pairs, round-robin over the levels, distinct statements."""
    from prover.data.core_lean import CoreLeanGenerator, reference_response

    gen = CoreLeanGenerator(seed=opts.seed)
    out: list[tuple[Any, str]] = []
    seen: set[str] = set()
    index = 0
    while len(out) < opts.pairs and index < 50 * opts.pairs:
        for level in opts.levels:
            p = gen.problem(level, index)
            if p.statement not in seen and len(out) < opts.pairs:
                seen.add(p.statement)
                out.append((p, reference_response(p)))
        index += 1
    return out


def cache_key(base_path: str, opts: WarmStartOptions, cands: list[tuple[Any, str]]) -> str:
    import peft
    import transformers
    import trl

    base = Path(base_path)
    sft = opts.sft_settings()
    ident = {"base": base.name, "base_config": _file_digest(base / "config.json"),
             "weights": sorted((f.name, f.stat().st_size) for f in base.glob("*.safetensors")),
             "pairs": [[p.id, p.statement, a] for p, a in cands],
             "sft": asdict(sft), "format": FORMAT_VERSION,
             "precision": resolve_precision(sft.precision, "sft.precision"),  # auto differs between machines
             "versions": [trl.__version__, peft.__version__, transformers.__version__]}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()[:16]


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else ""


def cached_model(cache_root: str | os.PathLike[str], base_path: str, opts: WarmStartOptions) -> Path:
    """Where the warm-started model for these settings lives (it may not exist yet)."""
    key = cache_key(base_path, opts, candidate_pairs(opts))
    return Path(cache_root).expanduser() / f"{Path(base_path).name}-warm-{key}"


def is_built(path: Path) -> bool:
    return (path / DONE).is_file() and (path / "config.json").is_file()


def ensure_warm_start(base_path: str, opts: WarmStartOptions, cache_root: str | os.PathLike[str],
                      verifier: Callable[[], Any], say: Callable[[str], None] = print) -> tuple[Path, dict[str, Any]]:
    """The merged warm-started model (built on first use, then reused) and its record.

    ``verifier``: returns the started Lean verifier; called only when the model is built.
    The record says whether the cache was reused, and how many pairs the real Lean accepted.
    """
    from filelock import FileLock

    target = cached_model(cache_root, base_path, opts)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if is_built(target):
            record = json.loads((target / DONE).read_text())
            say(f"warm start: reusing {target}")
            return target, {**record, "reused": True}
        record = _build(base_path, opts, target, verifier, say)
    return target, {**record, "reused": False}


def _build(base_path: str, opts: WarmStartOptions, target: Path, verifier: Callable[[], Any],
           say: Callable[[str], None]) -> dict[str, Any]:
    from prover.finetune.api import clean_text, first_attempt
    from prover.finetune.sft import pair_row, train_sft

    t0 = time.monotonic()
    cands = candidate_pairs(opts)
    say(f"warm start: checking {len(cands)} generator proofs with the real Lean, then fine-tuning "
        f"{Path(base_path).name} (cached in {target.parent}) ...")
    checker = verifier()
    verdicts = checker.verify([p for p, _ in cands], [clean_text(a) for _, a in cands])
    rows, by_level = [], {}
    for (p, answer), v in zip(cands, verdicts):
        lv = by_level.setdefault(str(p.meta.get("level")), {"candidates": 0, "verified": 0})
        lv["candidates"] += 1
        if v.valid:
            lv["verified"] += 1
            rows.append(pair_row(first_attempt(p), answer, problem_id=p.id, domain="lean", source="core_lean generator",
                                 verified_by="lean"))
    if not rows:
        raise RuntimeError(f"warm start: the real Lean accepted none of {len(cands)} generator proofs (e.g. "
                           f"{verdicts[0].status.value}: {verdicts[0].feedback[:300]!r}); the verifier is broken")
    work = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    trained = train_sft(rows, base_path, work / "sft", opts.sft_settings(),
                        provenance={"stage": "warm_start(rl default)", "pairs": len(rows)})
    done = json.loads((trained / "sft_done.json").read_text())
    _merge(base_path, trained, work / "model")
    record = {"base": base_path, "pairs": {"candidates": len(cands), "verified": len(rows), "by_level": by_level},
              "options": asdict(opts), "train_loss": done["train_loss"], "sft_steps": done["steps"],
              "built_s": round(time.monotonic() - t0, 1), "problem_ids": [r["problem_id"] for r in rows]}
    (work / "model" / DONE).write_text(json.dumps(record, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    (work / "model").rename(target)
    shutil.rmtree(work, ignore_errors=True)
    say(f"warm start: {len(rows)} of {len(cands)} generator proofs verified, SFT loss {done['train_loss']:.3f}, "
        f"{record['built_s']:.0f}s -> {target}")
    return record


def _merge(base_path: str, trained: Path, out: Path) -> None:
    """A plain checkpoint: the LoRA adapter merged into the base weights (a full fine-tune is copied)."""
    from prover.policy.adapters import save_merged

    save_merged(trained, base_path, out)


__all__ = ["WarmStartOptions", "cache_key", "cached_model", "candidate_pairs", "ensure_warm_start", "is_built"]
