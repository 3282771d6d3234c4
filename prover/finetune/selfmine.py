"""Self-mining: the model invents problems with tests, solves them, and learns from its own (broken, working) pairs.

Per round (round r > 1 proposes and solves with the round r-1 model):
1. propose ``proposals_per_round`` problems at the current difficulty (1-5), in the run's
   domain (``prover.finetune.mining``): code (a task, a reference function and assert
   tests), math (a word problem and a program whose sandboxed output is the answer) or
   Lean (a core-Lean statement that must elaborate with ``sorry`` in the real Lean);
2. filter, counting each drop: unparseable, trivially short, duplicate or near-duplicate
   of another proposal, near-duplicate of an evaluation set, then the domain's degenerate
   checks on the real verifiers (code: tests a stub passes / the reference fails; math:
   the program fails, prints nothing, an unreadable answer, a do-nothing answer passes;
   Lean: does not elaborate, closed by rfl/decide/simp alone, same type as MiniF2F-core);
3. solve each kept problem ``solve_k`` times; the difficulty moves up when the batch's
   problems are mostly solved on every try and down when mostly never solved;
4. pairs: correction = (problem + broken attempt + the verifier's feedback -> working
   attempt) and "correct stays correct" = (problem + a working candidate -> the same).
Arms trained from the same base and evaluated on held-out problems: ``mix`` (corrections
+ keeps at ``keep_fraction``), ``corrections`` (no keeps), ``shuffled`` (feedback from
another pair) and ``garbage`` (same count and shape, code that passes nothing).
"""

from __future__ import annotations

import json
import logging
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from prover.finetune import controls, pairs
from prover.finetune.api import (Problem, SamplingParams, check_repair, clean_obj, error_fix, first_attempt,
                                 load_problems, make_verifier, verify)
from prover.finetune.evaluate import evaluate, sample_and_verify
from prover.finetune.mining import DOMAINS, make_proposer
from prover.finetune.report import arm_results, write_run
from prover.finetune.sft import SFTSettings, pair_row, policy_for, train_sft

log = logging.getLogger(__name__)

ARMS = ("mix", "corrections", "shuffled", "garbage")
EVAL_SETS = {"code": "mbpp:test", "math": "gsm8k:test", "lean": "minif2f_core:test"}

@dataclass
class SelfMineConfig:
    """Self-mining (scripts/self_mine.py)."""

    out_dir: str = field(default="runs/selfmine", metadata={"help": "Run directory (rounds and stages are reused on a rerun)."})
    domain: str = field(default="code", metadata={"help": f"What the model invents and solves: one of {DOMAINS}."})
    model: str = field(default="embedded:smollm2-135m", metadata={"help": "Base policy."})
    rounds: int = field(default=2, metadata={"help": "Mining rounds; round r mines with the round r-1 model."})
    proposals_per_round: int = field(default=16, metadata={"help": "Problems proposed per round (before filters)."})
    proposal_batch: int = field(default=8, metadata={"help": "Proposals per difficulty update."})
    solve_k: int = field(default=4, metadata={"help": "Solutions sampled per kept problem."})
    difficulty_start: int = field(default=2, metadata={"help": "Starting difficulty (1-5) in the proposal prompt."})
    keep_fraction: float = field(default=0.3, metadata={"help": "Share of 'correct stays correct' pairs in the mix arm, in [0, 1)."})
    max_pairs_per_problem: int = field(default=2, metadata={"help": "Most correction pairs taken from one problem."})
    arms: list[str] = field(default_factory=lambda: list(ARMS), metadata={"help": f"Arms to train: any of {ARMS}."})
    min_chars: int = field(default=30, metadata={"help": "Problems whose text is shorter are dropped as trivial (code and math: "
                                                         "the description; Lean: the normalised statement)."})
    max_answer_chars: int = field(default=32, metadata={"help": "math: a program's answer (last printed line) longer than this is unreadable."})
    trivial_tactics: list[str] = field(default_factory=lambda: ["rfl", "decide", "simp"],
                                       metadata={"help": "lean: a statement one of these tactics alone closes is trivial "
                                                         "and dropped; [] keeps them."})
    lean_decontam_pairs: int = field(default=64, metadata={"help": "lean: most (proposal, MiniF2F-core) pairs per batch whose "
                                                                    "elaborated types Lean compares (0 = text test only)."})
    lean_timeout_s: float = field(default=60.0, metadata={"help": "lean: seconds per Lean check (the run's own verifier)."})
    ngram: int = field(default=8, metadata={"help": "Word n-gram size for decontamination against the evaluation sets."})
    contamination: float = field(default=0.5, metadata={"help": "Drop a problem when this fraction of its n-grams is in one evaluation set."})
    eval_set: str = field(default="", metadata={"help": f"Held-out problems for evaluation; empty = the domain's default {EVAL_SETS}."})
    eval_limit: int = field(default=20, metadata={"help": "How many held-out problems."})
    eval_n: int = field(default=1, metadata={"help": "Samples per held-out problem."})
    eval_temperature: float = field(default=0.0, metadata={"help": "Evaluation temperature (0 = greedy)."})
    few_shot: int = field(default=0, metadata={"help": "Worked examples in solving and evaluation prompts (Lean: the small model "
                                                        "writes Lean only after a few)."})
    temperature: float = field(default=0.8, metadata={"help": "Temperature of proposals and solutions."})
    max_new_tokens: int = field(default=192, metadata={"help": "Longest proposal/solution (tokens)."})
    cpu_threads: int = field(default=1, metadata={"help": "torch threads for generation (0 = torch default)."})
    batch_size: int = field(default=8, metadata={"help": "Sequences decoded together."})
    seed: int = field(default=0, metadata={"help": "Seed of sampling, shuffles and training."})
    sft: SFTSettings = field(default_factory=SFTSettings, metadata={"help": "Fine-tuning settings."})

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"domain={self.domain!r}: use one of {DOMAINS}")
        self.eval_set = self.eval_set or EVAL_SETS[self.domain]
        bad = [a for a in self.arms if a not in ARMS]
        if bad or not self.arms:
            raise ValueError(f"arms={self.arms}: use one or more of {ARMS}")
        for name in ("rounds", "proposals_per_round", "proposal_batch", "solve_k", "max_pairs_per_problem",
                     "eval_limit", "eval_n", "max_new_tokens", "batch_size", "ngram"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)}: must be >= 1")
        if self.solve_k < 2:
            raise ValueError(f"solve_k={self.solve_k}: need >= 2 solutions to find a (broken, working) pair")
        if not 1 <= self.difficulty_start <= 5:
            raise ValueError(f"difficulty_start={self.difficulty_start}: use 1 to 5")
        if not 0 <= self.keep_fraction < 1:
            raise ValueError(f"keep_fraction={self.keep_fraction}: use a fraction in [0, 1), e.g. 0.3")
        if self.max_answer_chars < 1 or self.lean_decontam_pairs < 0 or self.few_shot < 0:
            raise ValueError("max_answer_chars must be >= 1; lean_decontam_pairs and few_shot >= 0")
        if any(not isinstance(t, str) or not t.strip() or "\n" in t for t in self.trivial_tactics):
            raise ValueError(f"trivial_tactics={self.trivial_tactics}: give one-line tactic names, e.g. [rfl, decide, simp]")
        if not 0 < self.lean_timeout_s <= 3600:
            raise ValueError(f"lean_timeout_s={self.lean_timeout_s}: use seconds in (0, 3600], e.g. 60")
        if not 0 < self.contamination <= 1:
            raise ValueError(f"contamination={self.contamination}: use a fraction in (0, 1]")


class SelfMineRun:
    """One self-mining run. ``verifier``: the domain's verifier to use (e.g. a warm Lean pool), not
    closed by the run; None starts the project's own (``make_verifier``) and closes it at the end."""

    def __init__(self, cfg: SelfMineConfig, verifier: Any = None) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.held_out = load_problems(cfg.eval_set, cfg.eval_limit)
        bad = [p.id for p in self.held_out if p.domain != cfg.domain]
        if bad:
            raise ValueError(f"eval_set={cfg.eval_set!r} holds {bad[:3]}, not in domain {cfg.domain!r}: fix eval_set")
        self._owns_verifier = verifier is None
        self.verifier = verifier if verifier is not None else self._start_verifier()
        try:
            self.proposer = make_proposer(cfg.domain, self.verifier, min_chars=cfg.min_chars, ngram=cfg.ngram,
                                          contamination=cfg.contamination, max_answer_chars=cfg.max_answer_chars,
                                          trivial_tactics=cfg.trivial_tactics, max_lean_pairs=cfg.lean_decontam_pairs)
        except BaseException:
            if self._owns_verifier:
                self.verifier.close()
            raise
        self.level = cfg.difficulty_start
        self.rounds: list[dict[str, Any]] = []
        self.seen = self.proposer.seen_start()  # keys of kept problems; copies of the shown example are duplicates

    def _start_verifier(self) -> Any:
        return make_verifier(self.cfg.domain, lean_timeout_s=self.cfg.lean_timeout_s)

    def close(self) -> None:
        self.proposer.close()
        if self._owns_verifier:
            self.verifier.close()

    # -- mining -----------------------------------------------------------------------------------
    def mine_round(self, r: int, policy: Any) -> dict[str, Any]:
        cfg = self.cfg
        path = self.out / f"round{r}" / "mined"
        if pairs.exists(path):
            report = pairs.load_provenance(path)["report"]
            self.level = report["next_level"]
            rows = pairs.load_rows(path)
            self.seen += [self.proposer.key(Problem.from_json(x["problem"])) for x in rows]
            return report | {"rows": rows}
        counts = {f: 0 for f in self.proposer.filters}
        seen = self.seen  # across rounds: a later round's copy of an earlier problem is a duplicate
        levels, rows, proposals = [], [], []
        for b in range(0, cfg.proposals_per_round, cfg.proposal_batch):
            size = min(cfg.proposal_batch, cfg.proposals_per_round - b)
            comps = policy.generate([self.proposer.prompt(self.level)],
                                    SamplingParams(n=size, temperature=cfg.temperature,
                                                   max_new_tokens=cfg.max_new_tokens + 128,
                                                   seed=cfg.seed + 1000 * r + b))[0]
            raw = [c.text for c in comps]
            parsed = [self.proposer.parse(t, f"mined/{cfg.domain}/r{r}/{b + i}", self.level) for i, t in enumerate(raw)]
            kept = self.proposer.filter(parsed, seen, counts)
            kept_ids = {p.id for p in kept}
            proposals += [{"level": self.level, "text": t, "parsed": p.to_json() if p else None,
                           "kept": bool(p and p.id in kept_ids)} for t, p in zip(raw, parsed)]
            levels.append(self.level)
            if not kept:
                continue
            groups = sample_and_verify(policy, self.verifier, kept, [first_attempt(p, few_shot=cfg.few_shot) for p in kept],
                                       n=cfg.solve_k, temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
                                       seed=cfg.seed + 1000 * r + b + 7, chunk=cfg.batch_size, desc=f"solve r{r}")
            always = sum(all(s.ok for s in g) for g in groups)
            never = sum(not any(s.ok for s in g) for g in groups)
            if always > len(groups) / 2:
                self.level = min(5, self.level + 1)
            elif never > len(groups) / 2:
                self.level = max(1, self.level - 1)
            for p, g in zip(kept, groups):
                rows.append({"problem": p.to_json(), "responses": [s.response for s in g],
                             "ok": [s.ok for s in g], "feedback": [s.verdict.feedback for s in g],
                             "status": [s.verdict.status.value for s in g], "round": r})
        report = {"round": r, "domain": cfg.domain, "proposed": cfg.proposals_per_round, "dropped": counts,
                  "kept": len(rows), "levels": levels, "next_level": self.level,
                  "solved_always": sum(all(x["ok"]) for x in rows), "solved_never": sum(not any(x["ok"]) for x in rows)}
        log.info("round %d: %d proposed, dropped %s, kept %d", r, cfg.proposals_per_round, counts, len(rows))
        (self.out / f"round{r}").mkdir(parents=True, exist_ok=True)
        (self.out / f"round{r}" / "proposals.json").write_text(json.dumps(clean_obj(proposals), indent=1))
        pairs.save_rows(rows, path, {"stage": "selfmine", "domain": cfg.domain, "round": r, "report": report,
                                     "model": cfg.model, "seed": cfg.seed})
        return report | {"rows": rows}

    # -- pairs ------------------------------------------------------------------------------------
    def build_pairs(self, mined: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        corrections, keeps = [], []
        for row in mined:
            p = Problem.from_json(row["problem"])
            good = [i for i, ok in enumerate(row["ok"]) if ok]
            status = row.get("status") or ["invalid"] * len(row["ok"])
            bad = [i for i, ok in enumerate(row["ok"]) if not ok and status[i] != "error"]  # infra errors teach nothing
            first = first_attempt(p, few_shot=self.cfg.few_shot)
            for j, (b, g) in enumerate(zip(bad, good * len(bad))):
                if j >= self.cfg.max_pairs_per_problem:
                    break
                corrections.append(pair_row(error_fix(p, first, row["responses"][b], row["feedback"][b] or "(no details)"),
                                            row["responses"][g], problem_id=p.id, kind="correction", round=row["round"],
                                            broken=row["responses"][b], feedback=row["feedback"][b], control=""))
            if good:
                keeps.append(pair_row(check_repair(p, row["responses"][good[0]], few_shot=self.cfg.few_shot), row["responses"][good[0]],
                                      problem_id=p.id, kind="keep", round=row["round"], broken="", feedback="", control=""))
        return corrections, keeps

    def shuffled(self, corrections: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        try:
            perm = controls.derangement_by([r["problem_id"] for r in corrections], random.Random(self.cfg.seed))
        except ValueError as exc:  # too few problems to swap feedback between
            log.warning("shuffled arm skipped: %s", exc)
            return []
        out = []
        for row, j in zip(corrections, perm):
            p = Problem.from_json(next(x for x in self._mined if x["problem"]["id"] == row["problem_id"])["problem"])
            fb = corrections[j]["feedback"] or "(no details)"
            out.append(pair_row(error_fix(p, first_attempt(p, few_shot=self.cfg.few_shot), row["broken"], fb), row["completion"][0]["content"],
                                problem_id=p.id, kind="correction", round=row["round"], broken=row["broken"],
                                feedback=fb, control="shuffled"))
        return out

    # -- training and evaluation ---------------------------------------------------------------------
    def _eval(self, name: str, adapter: Path | None) -> dict[str, tuple[int, int]]:
        cfg = self.cfg
        path = self.out / "eval" / f"{name}.json"
        if path.is_file():
            return {k: tuple(v) for k, v in json.loads(path.read_text()).items()}
        policy = policy_for(cfg.model, adapter, cpu_threads=cfg.cpu_threads, batch_size=cfg.batch_size)
        try:
            counts = evaluate(policy, self.verifier, self.held_out, n=cfg.eval_n, temperature=cfg.eval_temperature,
                              max_new_tokens=cfg.max_new_tokens, seed=cfg.seed + 100, few_shot=cfg.few_shot,
                              desc=f"eval {name}")
        finally:
            policy.close()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(counts))
        return counts

    def _arm(self, name: str, rows: Sequence[Mapping[str, Any]], base: Mapping[str, tuple[int, int]]) -> dict[str, Any]:
        entry: dict[str, Any] = {"arm": name, "pairs": len(rows)}
        if not rows:
            entry["note"] = "no pairs: not trained"
            return entry
        pairs.save_rows(rows, self.out / "pairs" / name, {"stage": "selfmine", "domain": self.cfg.domain, "arm": name,
                                                         "model": self.cfg.model, "seed": self.cfg.seed})
        adapter = train_sft(rows, self.cfg.model, self.out / "adapters" / name, self.cfg.sft, provenance={"arm": name})
        entry["train_loss"] = json.loads((adapter / "sft_done.json").read_text())["train_loss"]
        entry["adapter"] = str(adapter)
        counts = self._eval(name, adapter)
        ks = sorted({1, self.cfg.eval_n})
        entry["results"] = arm_results(counts, base, ks, seed=self.cfg.seed)
        entry["counts"] = counts
        return entry

    def run(self) -> dict[str, Any]:
        cfg = self.cfg
        ks = sorted({1, cfg.eval_n})
        self._mined: list[dict[str, Any]] = []
        model_dir: Path | None = None
        rows_out: list[dict[str, Any]] = []
        try:
            base = self._eval("base", None)
            rows_out.append({"arm": "base", "pairs": 0, "results": arm_results(base, None, ks, seed=cfg.seed), "counts": base})
            for r in range(1, cfg.rounds + 1):
                policy = policy_for(cfg.model, model_dir, cpu_threads=cfg.cpu_threads, batch_size=cfg.batch_size)
                try:
                    rep = self.mine_round(r, policy)
                finally:
                    policy.close()
                self._mined += rep.pop("rows")
                corrections, keeps = self.build_pairs(self._mined)
                mix = controls.mix_rows(corrections, keeps, cfg.keep_fraction, seed=cfg.seed)
                rep.update({"corrections": len(corrections), "keeps": len(keeps), "mix": len(mix)})
                self.rounds.append(rep)
                if r < cfg.rounds and mix:
                    model_dir = self.out / "adapters" / f"round{r}"
                    train_sft(mix, cfg.model, model_dir, cfg.sft, provenance={"round": r})
            arms: dict[str, list[Mapping[str, Any]]] = {
                "mix": mix, "corrections": corrections,
                "shuffled": controls.mix_rows(self.shuffled(corrections), keeps, cfg.keep_fraction, seed=cfg.seed)}
            for name in cfg.arms:
                if name == "garbage":
                    by_id = {x["problem"]["id"]: Problem.from_json(x["problem"]) for x in self._mined}
                    garbage, gcounts = controls.garbage_rows(
                        mix, lambda row, text: verify(self.verifier, [by_id[row["problem_id"]]], [text])[0].status.value == "valid",
                        seed=cfg.seed)
                    entry = self._arm("garbage", garbage, base)
                    entry["note"] = f"copied from mix: {gcounts}"
                    rows_out.append(entry)
                else:
                    rows_out.append(self._arm(name, arms[name], base))
        finally:
            self.close()
        summary = {"config": asdict(cfg), "rounds": self.rounds, "arms": rows_out, "ks": ks,
                   "eval_problems": [p.id for p in self.held_out],
                   "note": "Arms trained from the same base on all rounds' pairs; evaluated on held-out eval_set problems."}
        write_run(self.out, summary, rows_out, ks,
                  f"Self-mining {cfg.domain} ({cfg.rounds} rounds) -> held-out {cfg.eval_set}")
        return summary
