"""STaR retry then fine-tune: first attempts, retries of the failures, LoRA on the passing retries.

Stages (each saved under ``out_dir`` and reused on a rerun, so a killed run resumes):
1. ``first``: ``first_n`` attempts per training problem (``first_temperature``).
2. ``retry/<arm>``: each failure retried ``retry_n`` times with the arm's follow-up turn:
   ``binary`` ("your solution failed; try a different approach"), ``feedback`` (the
   verifier's real feedback) or ``shuffled`` (the feedback of *another* failed problem).
   Passing retries become pairs (problem's first-attempt prompt -> passing retry),
   saved as a ``datasets`` set with provenance in ``pairs/<arm>``.
3. Controls: ``garbage`` (the first real arm's pairs with code that passes nothing,
   same count/lengths/format) and the pairs-count sweep ``sweep_sizes`` (nested subsets).
4. Every arm is LoRA-fine-tuned from the same base and evaluated with the same
   sampling on the held-out ``eval_set`` (problems never used in training), next to
   the base model; pass@1/pass@k with 95% bootstrap intervals and paired differences.
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from prover.finetune import controls, pairs
from prover.finetune.api import (Attempt, AttemptStore, binary_retry, error_fix, first_attempt, load_problems,
                                 make_verifier, verify)
from prover.finetune.evaluate import Sampled, evaluate, sample_and_verify
from prover.finetune.report import arm_results, write_run
from prover.finetune.sft import SFTSettings, is_trained, policy_for, train_sft

log = logging.getLogger(__name__)

RETRY_ARMS = ("binary", "feedback", "shuffled")
CONTROL_ARMS = ("garbage",)


@dataclass
class StarConfig:
    """STaR retry then fine-tune (scripts/star_retry.py)."""

    out_dir: str = field(default="runs/star", metadata={"help": "Run directory (stages are reused on a rerun)."})
    domain: str = field(default="code", metadata={"help": "code, math or lean (the verifier used)."})
    train_set: str = field(default="mbpp:train", metadata={"help": "Problems to mine retries from, e.g. mbpp:train, gsm8k:train, core_lean:0:1."})
    train_limit: int = field(default=48, metadata={"help": "How many training problems."})
    eval_set: str = field(default="mbpp:test", metadata={"help": "Held-out problems (must not share ids with train_set)."})
    eval_limit: int = field(default=32, metadata={"help": "How many held-out problems."})
    model: str = field(default="embedded:smollm2-135m", metadata={"help": "Base policy (checkpoint, hub id or embedded name)."})
    arms: list[str] = field(default_factory=lambda: ["binary", "feedback", "shuffled", "garbage"],
                            metadata={"help": f"Arms to train: any of {RETRY_ARMS + CONTROL_ARMS}."})
    sweep_sizes: list[int] = field(default_factory=list,
                                   metadata={"help": "Pairs-count sweep on the first real arm (e.g. 8 16 32 64); sizes above the pairs found are skipped."})
    include_first_passes: bool = field(default=False, metadata={"help": "Also train on first attempts that passed."})
    first_n: int = field(default=1, metadata={"help": "First attempts per training problem."})
    first_temperature: float = field(default=0.7, metadata={"help": "Sampling temperature of first attempts."})
    retry_n: int = field(default=1, metadata={"help": "Retries per failed first attempt."})
    retry_temperature: float = field(default=0.7, metadata={"help": "Sampling temperature of retries."})
    eval_n: int = field(default=4, metadata={"help": "Samples per held-out problem (pass@1 and pass@eval_n)."})
    eval_temperature: float = field(default=0.7, metadata={"help": "Sampling temperature of the evaluation."})
    max_new_tokens: int = field(default=256, metadata={"help": "Longest completion (tokens)."})
    few_shot: int = field(default=0, metadata={"help": "Worked examples in first-attempt prompts (training and evaluation)."})
    cpu_threads: int = field(default=1, metadata={"help": "torch threads for generation on CPU (0 = torch default)."})
    batch_size: int = field(default=8, metadata={"help": "Sequences decoded together."})
    seed: int = field(default=0, metadata={"help": "Seed of sampling, shuffles and training."})
    sft: SFTSettings = field(default_factory=SFTSettings, metadata={"help": "Fine-tuning settings (sft.lora_rank, sft.epochs, ...)."})

    def __post_init__(self) -> None:
        if self.domain not in ("code", "math", "lean"):
            raise ValueError(f"domain={self.domain!r}: use code, math or lean")
        bad = [a for a in self.arms if a not in RETRY_ARMS + CONTROL_ARMS]
        if bad:
            raise ValueError(f"arms {bad} unknown: use any of {RETRY_ARMS + CONTROL_ARMS}")
        if "garbage" in self.arms and not any(a in RETRY_ARMS for a in self.arms):
            raise ValueError("arm 'garbage' needs a real arm to copy the shape of: add binary, feedback or shuffled")
        for name in ("train_limit", "eval_limit", "first_n", "retry_n", "eval_n", "max_new_tokens", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")
        for name in ("first_temperature", "retry_temperature", "eval_temperature"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name}={getattr(self, name)}: use 0 (greedy) or a positive temperature")
        if any(s < 1 for s in self.sweep_sizes):
            raise ValueError(f"sweep_sizes={self.sweep_sizes}: sizes must be positive pair counts")
        if self.few_shot < 0 or self.cpu_threads < 0:
            raise ValueError("few_shot and cpu_threads must be >= 0")


def _store_sampled(store: Any, groups: Sequence[Sequence[Sampled]], turn: str, step: int) -> None:
    store.add_many([(s.problem, Attempt(problem_id=s.problem.id, prompt=s.prompt, response=s.response, turn=turn), s.verdict)
                    for g in groups for s in g], step=step)


def _sampled_json(groups: Sequence[Sequence[Sampled]]) -> list[list[dict[str, Any]]]:
    return [[{"problem_id": s.problem.id, "response": s.response, "status": s.verdict.status.value,
              "feedback": s.verdict.feedback, "truncated": s.truncated} for s in g] for g in groups]


class StarRun:
    """One STaR run; ``run()`` does every stage and writes the summary."""

    def __init__(self, cfg: StarConfig, verifier: Any = None) -> None:
        """``verifier``: the domain's verifier to use (e.g. a warm Lean pool), not closed by the run; None
        starts the project's own (``make_verifier``) and closes it at the end."""
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.train = load_problems(cfg.train_set, cfg.train_limit)
        self.held_out = load_problems(cfg.eval_set, cfg.eval_limit)
        overlap = {p.id for p in self.train} & {p.id for p in self.held_out}
        if overlap:
            raise ValueError(f"train_set and eval_set share {len(overlap)} problems (e.g. {sorted(overlap)[:3]}): "
                             "evaluate on held-out problems")
        bad = [p.id for p in self.train + self.held_out if p.domain != cfg.domain]
        if bad:
            raise ValueError(f"problems {bad[:3]} are not in domain {cfg.domain!r}: fix domain or the problem sets")
        self._owns_verifier = verifier is None
        self.verifier = verifier if verifier is not None else make_verifier(cfg.domain)
        self._policy: Any = None
        self.log: dict[str, Any] = {}

    # -- policy -----------------------------------------------------------------------------------
    def base_policy(self) -> Any:
        if self._policy is None:
            self._policy = policy_for(self.cfg.model, None, cpu_threads=self.cfg.cpu_threads, batch_size=self.cfg.batch_size)
        return self._policy

    def _drop_policy(self) -> None:
        if self._policy is not None:
            self._policy.close()
            self._policy = None

    # -- stages -----------------------------------------------------------------------------------
    def first_attempts(self) -> list[list[Sampled]]:
        cfg = self.cfg
        path = self.out / "first.json"
        prompts = [first_attempt(p, few_shot=cfg.few_shot) for p in self.train]
        if path.is_file():
            return self._reload(path, self.train, prompts)
        groups = sample_and_verify(self.base_policy(), self.verifier, self.train, prompts, n=cfg.first_n,
                                   temperature=cfg.first_temperature, max_new_tokens=cfg.max_new_tokens,
                                   seed=cfg.seed, chunk=cfg.batch_size, desc="first attempts")
        self._save(path, groups, "first")
        return groups

    def _save(self, path: Path, groups: Sequence[Sequence[Sampled]], turn: str) -> None:
        with AttemptStore(self.out / "attempts.sqlite", capacity=100000) as store:
            _store_sampled(store, groups, turn, 0)
        from prover.finetune.api import clean_obj

        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(clean_obj(_sampled_json(groups))))
        tmp.rename(path)

    def _reload(self, path: Path, problems: Sequence[Any], prompts: Sequence[Any]) -> list[list[Sampled]]:
        """Rebuild sampled groups from a saved stage, re-verifying the saved responses."""
        saved = json.loads(path.read_text())
        flat_p = [p for p, g in zip(problems, saved) for _ in g]
        flat_r = [s["response"] for g in saved for s in g]
        verdicts = iter(verify(self.verifier, flat_p, flat_r))
        return [[Sampled(p, tuple(m), s["response"], next(verdicts), s.get("truncated", False)) for s in g]
                for p, m, g in zip(problems, prompts, saved)]

    def retries(self, arm: str, firsts: Sequence[Sequence[Sampled]]) -> list[list[Sampled]]:
        """Retry every failed first attempt with the arm's follow-up turn."""
        cfg = self.cfg
        failed = [s for g in firsts for s in g if not s.ok]
        if arm == "shuffled" and len({f.problem.id for f in failed}) < 2:
            log.warning("shuffled arm needs failures of at least 2 problems to swap feedback; got %d: skipped", len(failed))
            self.log["shuffled_skipped"] = f"only {len(failed)} failure(s): no other problem's feedback to show"
            failed = []
        rng = random.Random(f"{cfg.seed}/{arm}")
        if arm == "shuffled":
            perm = controls.derangement_by([f.problem.id for f in failed], rng)
            fb = [failed[j].verdict.feedback for j in perm]
        else:
            fb = [s.verdict.feedback for s in failed]
        prompts = []
        for s, feedback in zip(failed, fb):
            if arm == "binary":
                prompts.append(binary_retry(s.problem, s.prompt, s.response))
            else:
                prompts.append(error_fix(s.problem, s.prompt, s.response, feedback or "(no details)"))
        path = self.out / f"retry_{arm}.json"
        problems = [s.problem for s in failed]
        if path.is_file():
            return self._reload(path, problems, prompts)
        groups = sample_and_verify(self.base_policy(), self.verifier, problems, prompts, n=cfg.retry_n,
                                   temperature=cfg.retry_temperature, max_new_tokens=cfg.max_new_tokens,
                                   seed=cfg.seed + 1, chunk=cfg.batch_size, desc=f"retries ({arm})")
        self._save(path, groups, "retry" if arm == "binary" else "fix")
        return groups

    def pairs_for(self, arm: str, firsts: Sequence[Sequence[Sampled]]) -> list[dict[str, Any]]:
        """Pairs of one real arm: the problem's plain first-attempt prompt -> a passing retry (one per problem)."""
        from prover.finetune.sft import pair_row

        path = self.out / "pairs" / arm
        if pairs.exists(path):
            return pairs.load_rows(path)
        groups = self.retries(arm, firsts)
        rows, seen = [], set()
        for g in groups:
            for s in g:
                if s.ok and s.problem.id not in seen:
                    seen.add(s.problem.id)
                    rows.append(pair_row(first_attempt(s.problem, few_shot=self.cfg.few_shot), s.response,
                                         problem_id=s.problem.id, source_turn=arm, control=""))
        if self.cfg.include_first_passes:
            for g in firsts:
                for s in g:
                    if s.ok and s.problem.id not in seen:
                        seen.add(s.problem.id)
                        rows.append(pair_row(s.prompt, s.response, problem_id=s.problem.id, source_turn="first", control=""))
        failed = sum(1 for g in firsts for s in g if not s.ok)
        self.log[arm] = {"retried": failed, "retry_samples": sum(len(g) for g in groups),
                         "passing_retries": sum(s.ok for g in groups for s in g), "pairs": len(rows)}
        pairs.save_rows(rows, path, {"stage": "star", "arm": arm, "train_set": self.cfg.train_set,
                                     "model": self.cfg.model, "seed": self.cfg.seed, **self.log[arm]})
        return rows

    def garbage(self, real: Sequence[Mapping[str, Any]], source_arm: str) -> list[dict[str, Any]]:
        path = self.out / "pairs" / "garbage"
        if pairs.exists(path):
            return pairs.load_rows(path)
        by_id = {p.id: p for p in self.train}

        def passes(row: Mapping[str, Any], text: str) -> bool:
            return verify(self.verifier, [by_id[row["problem_id"]]], [text])[0].status.value == "valid"

        rows, counts = controls.garbage_rows(real, passes, seed=self.cfg.seed)
        self.log["garbage"] = {"copied_from": source_arm, **counts}
        pairs.save_rows(rows, path, {"stage": "star", "arm": "garbage", "copied_from": source_arm, **counts})
        return rows

    def train_and_eval(self, name: str, rows: Sequence[Mapping[str, Any]], base_counts: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
        cfg = self.cfg
        entry: dict[str, Any] = {"arm": name, "pairs": len(rows)}
        if not rows:
            entry["note"] = "no pairs: not trained"
            return entry
        adapter = self.out / "adapters" / name
        if not is_trained(adapter):
            self._drop_policy()
        train_sft(rows, cfg.model, adapter, cfg.sft, provenance={"arm": name, "run": str(self.out)})
        done = json.loads((adapter / "sft_done.json").read_text())
        entry["train_loss"] = done["train_loss"]
        entry["adapter"] = str(adapter)
        counts = self._eval(name, adapter)
        entry["results"] = arm_results(counts, base_counts, self.ks, seed=cfg.seed)
        entry["counts"] = counts
        return entry

    @property
    def ks(self) -> list[int]:
        return sorted({1, self.cfg.eval_n})

    def _eval(self, name: str, adapter: Path | None) -> dict[str, tuple[int, int]]:
        cfg = self.cfg
        path = self.out / "eval" / f"{name}.json"
        if path.is_file():
            return {k: tuple(v) for k, v in json.loads(path.read_text()).items()}
        if adapter is None:
            policy = self.base_policy()
        else:
            self._drop_policy()
            policy = policy_for(cfg.model, adapter, cpu_threads=cfg.cpu_threads, batch_size=cfg.batch_size)
        try:
            counts = evaluate(policy, self.verifier, self.held_out, n=cfg.eval_n, temperature=cfg.eval_temperature,
                              max_new_tokens=cfg.max_new_tokens, seed=cfg.seed + 100, few_shot=cfg.few_shot,
                              desc=f"eval {name}")
        finally:
            if adapter is not None:
                policy.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(counts))
        return counts

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        try:
            firsts = self.first_attempts()
            first_pass = sum(s.ok for g in firsts for s in g)
            self.log["first"] = {"problems": len(firsts), "samples": sum(len(g) for g in firsts), "passed": first_pass}
            real = {arm: self.pairs_for(arm, firsts) for arm in cfg.arms if arm in RETRY_ARMS}
            base_counts = self._eval("base", None)
            rows_out: list[dict[str, Any]] = [{"arm": "base", "pairs": 0,
                                               "results": arm_results(base_counts, None, self.ks, seed=cfg.seed),
                                               "counts": base_counts}]
            for arm, rows in real.items():
                rows_out.append(self.train_and_eval(arm, rows, base_counts))
            source = next(iter(real))
            if "garbage" in cfg.arms:
                rows_out.append(self.train_and_eval("garbage", self.garbage(real[source], source), base_counts))
            for size, subset in controls.nested_subsets(real[source], cfg.sweep_sizes, seed=cfg.seed).items():
                entry = self.train_and_eval(f"{source}@{size}", subset, base_counts)
                k = max(self.ks)
                st = entry.get("results", {}).get(f"pass@{k}")
                if st and st.get("delta_vs_base", 0) < 0:
                    entry["note"] = f"training lowered pass@{k}"
                rows_out.append(entry)
        finally:
            self._drop_policy()
            if self._owns_verifier:
                self.verifier.close()
        summary = {"config": asdict(cfg), "stages": self.log, "arms": rows_out, "ks": self.ks,
                   "train_problems": [p.id for p in self.train], "eval_problems": [p.id for p in self.held_out],
                   "note": ("Trained on train_set problems, evaluated on different (held-out) eval_set problems; "
                            "pass@k 95% intervals are percentile bootstraps over problems; Δ is paired with base.")}
        write_run(self.out, summary, rows_out, self.ks,
                  f"STaR retry: {cfg.train_set} -> held-out {cfg.eval_set} ({len(self.held_out)} problems, n={cfg.eval_n})")
        return summary
