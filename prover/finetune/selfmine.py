"""Self-mining: the model invents problems with tests, solves them, and learns from its own (broken, working) pairs.

Per round (round r > 1 proposes and solves with the round r-1 model):
1. propose ``proposals_per_round`` problems (code: a task, a reference function and
   assert tests) at the current difficulty (1-5);
2. filter, counting each drop: unparseable, trivially short, duplicate or near-duplicate
   of another proposal, near-duplicate of an evaluation set (word n-gram overlap against
   HumanEval, MBPP, GSM8K, MiniF2F), tests that pass a stub returning nothing, tests the
   problem's own reference solution fails;
3. solve each kept problem ``solve_k`` times; the difficulty moves up when the batch's
   problems are mostly solved on every try and down when mostly never solved;
4. pairs: correction = (problem + broken attempt + the verifier's feedback -> working
   attempt) and "correct stays correct" = (problem + a working candidate -> the same).
Arms trained from the same base and evaluated on held-out problems: ``mix`` (corrections
+ keeps at ``keep_fraction``), ``corrections`` (no keeps), ``shuffled`` (feedback from
another pair) and ``garbage`` (same count and shape, code that passes nothing).
Only the code domain is implemented here; math and Lean proposals are future work.
"""

from __future__ import annotations

import json
import logging
import random
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from prover.finetune import controls, pairs
from prover.finetune.api import (Problem, called_names, check_repair, clean_text, error_fix, eval_set_texts,
                                 first_attempt, load_problems, make_verifier, verify)
from prover.data.decontam import NgramIndex, near_duplicate
from prover.finetune.evaluate import evaluate, sample_and_verify
from prover.finetune.report import arm_results, write_run
from prover.finetune.sft import SFTSettings, pair_row, policy_for, train_sft

log = logging.getLogger(__name__)

ARMS = ("mix", "corrections", "shuffled", "garbage")
FILTERS = ("unparseable", "too_short", "duplicate", "contaminated", "stub_passes", "reference_fails")
_PROBLEM = re.compile(r"Problem:\s*(.+?)(?:\n\s*\n|```|$)", re.S)

PROPOSE = (
    "Invent a new, self-contained Python programming exercise of difficulty {level} on a scale of 1 (very easy) "
    "to 5 (hard). Answer in exactly this format:\n\n"
    "Problem: <one or two sentences saying what the function must do, naming the function>\n\n"
    "```python\n<the complete function that solves it>\n```\n\n"
    "```python\nassert <call of the function> == <expected value>\nassert ...\nassert ...\n```")

PROPOSE_EXAMPLE = (
    "Problem: Write a function `count_vowels(s)` that returns how many vowels (a, e, i, o, u) the string s contains.\n\n"
    "```python\ndef count_vowels(s):\n    return sum(1 for c in s.lower() if c in 'aeiou')\n```\n\n"
    "```python\nassert count_vowels('hello') == 2\nassert count_vowels('xyz') == 0\nassert count_vowels('AEIOU') == 5\n```")


def proposal_prompt(level: int) -> list[dict[str, str]]:
    """System turn, one worked proposal (format example), then the request at ``level``."""
    return [{"role": "system", "content": "You are an expert Python programmer."},
            {"role": "user", "content": PROPOSE.format(level=1)},
            {"role": "assistant", "content": PROPOSE_EXAMPLE},
            {"role": "user", "content": PROPOSE.format(level=level) + "\nInvent a different problem from before."}]


@dataclass
class SelfMineConfig:
    """Self-mining (scripts/self_mine.py)."""

    out_dir: str = field(default="runs/selfmine", metadata={"help": "Run directory (rounds and stages are reused on a rerun)."})
    domain: str = field(default="code", metadata={"help": "Only 'code' is implemented (math, lean: not yet)."})
    model: str = field(default="embedded:smollm2-135m", metadata={"help": "Base policy."})
    rounds: int = field(default=2, metadata={"help": "Mining rounds; round r mines with the round r-1 model."})
    proposals_per_round: int = field(default=16, metadata={"help": "Problems proposed per round (before filters)."})
    proposal_batch: int = field(default=8, metadata={"help": "Proposals per difficulty update."})
    solve_k: int = field(default=4, metadata={"help": "Solutions sampled per kept problem."})
    difficulty_start: int = field(default=2, metadata={"help": "Starting difficulty (1-5) in the proposal prompt."})
    keep_fraction: float = field(default=0.3, metadata={"help": "Share of 'correct stays correct' pairs in the mix arm, in [0, 1)."})
    max_pairs_per_problem: int = field(default=2, metadata={"help": "Most correction pairs taken from one problem."})
    arms: list[str] = field(default_factory=lambda: list(ARMS), metadata={"help": f"Arms to train: any of {ARMS}."})
    min_chars: int = field(default=30, metadata={"help": "Problems whose description is shorter are dropped as trivial."})
    ngram: int = field(default=8, metadata={"help": "Word n-gram size for decontamination against the evaluation sets."})
    contamination: float = field(default=0.5, metadata={"help": "Drop a problem when this fraction of its n-grams is in one evaluation set."})
    eval_set: str = field(default="mbpp:test", metadata={"help": "Held-out problems for evaluation."})
    eval_limit: int = field(default=20, metadata={"help": "How many held-out problems."})
    eval_n: int = field(default=1, metadata={"help": "Samples per held-out problem."})
    eval_temperature: float = field(default=0.0, metadata={"help": "Evaluation temperature (0 = greedy)."})
    temperature: float = field(default=0.8, metadata={"help": "Temperature of proposals and solutions."})
    max_new_tokens: int = field(default=192, metadata={"help": "Longest proposal/solution (tokens)."})
    cpu_threads: int = field(default=1, metadata={"help": "torch threads for generation (0 = torch default)."})
    batch_size: int = field(default=8, metadata={"help": "Sequences decoded together."})
    seed: int = field(default=0, metadata={"help": "Seed of sampling, shuffles and training."})
    sft: SFTSettings = field(default_factory=SFTSettings, metadata={"help": "Fine-tuning settings."})

    def __post_init__(self) -> None:
        if self.domain != "code":
            raise ValueError(f"domain={self.domain!r}: self-mining is implemented for 'code' only so far")
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
        if not 0 < self.contamination <= 1:
            raise ValueError(f"contamination={self.contamination}: use a fraction in (0, 1]")


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*def {re.escape(name)}\s*\(", code, re.M) is not None


def parse_proposal(text: str, ident: str, level: int) -> Problem | None:
    """A code ``Problem`` from a proposal (description, reference function, asserts), or None.

    Lenient about layout (a small model rarely follows it exactly): asserts are taken from
    anywhere, the reference is the code block defining the function the asserts call (its
    assert/print lines removed), the description is the ``Problem:`` line, else the prose
    before the first code block, else the function's docstring.
    """
    blocks = re.findall(r"```(?:python|py)?[ \t]*\n(.*?)```", text, re.S)
    if not blocks:
        return None
    lines = [ln.strip() for b in blocks for ln in b.splitlines()]
    asserts = [ln for ln in lines if ln.startswith("assert ")]
    entry = next((n for n in called_names(asserts) if any(_defines(b, n) for b in blocks)), "")
    if not entry:
        return None
    tests = tuple(dict.fromkeys(a for a in asserts if entry in called_names([a])))
    block = next(b for b in blocks if _defines(b, entry))
    reference = "\n".join(ln for ln in block.splitlines()
                          if not ln.strip().startswith(("assert ", "print(")) and ln.strip() != "").strip()
    m = _PROBLEM.search(text)
    if m:
        desc = m.group(1).strip()
    else:
        prose = text.split("```")[0].strip()
        doc = re.search(r'"""(.*?)"""', reference, re.S)
        desc = prose if len(prose) > 20 else (doc.group(1).strip() if doc else "")
    desc = f"Write a Python function `{entry}`. {desc}".strip()
    return Problem(id=ident, domain="code", prompt=clean_text(desc), tests=tests, entry_point=entry,
                   meta={"source": "self-mined", "level": level, "reference_code": clean_text(reference)})


def stub_for(problem: Problem) -> str:
    return f"```python\ndef {problem.entry_point}(*args, **kwargs):\n    return None\n```"


class SelfMineRun:
    def __init__(self, cfg: SelfMineConfig) -> None:
        self.cfg = cfg
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.verifier = make_verifier(cfg.domain)
        self.held_out = load_problems(cfg.eval_set, cfg.eval_limit)
        self.index = NgramIndex(eval_set_texts(), cfg.ngram)
        self.level = cfg.difficulty_start
        self.rounds: list[dict[str, Any]] = []

    # -- mining -----------------------------------------------------------------------------------
    def _filter(self, problems: Sequence[Problem | None], raw: Sequence[str], seen: list[str],
                counts: dict[str, int]) -> list[Problem]:
        kept: list[Problem] = []
        for p, text in zip(problems, raw):
            if p is None:
                counts["unparseable"] += 1
            elif len(p.prompt) < self.cfg.min_chars:
                counts["too_short"] += 1
            elif any(near_duplicate(p.prompt + " ".join(p.tests), s) for s in seen):
                counts["duplicate"] += 1
            elif self.index.overlap(p.prompt)[0] >= self.cfg.contamination:
                counts["contaminated"] += 1
            else:
                seen.append(p.prompt + " ".join(p.tests))
                kept.append(p)
        if not kept:
            return kept
        stub = verify(self.verifier, kept, [stub_for(p) for p in kept])
        ref = verify(self.verifier, kept, [f"```python\n{p.meta['reference_code']}\n```" for p in kept])
        out = []
        for p, s, r in zip(kept, stub, ref):
            if s.status.value == "valid":
                counts["stub_passes"] += 1
            elif r.status.value != "valid":
                counts["reference_fails"] += 1
            else:
                out.append(p)
        return out

    def mine_round(self, r: int, policy: Any) -> dict[str, Any]:
        cfg = self.cfg
        path = self.out / f"round{r}" / "mined"
        if pairs.exists(path):
            return pairs.load_provenance(path)["report"] | {"rows": pairs.load_rows(path)}
        counts = {f: 0 for f in FILTERS}
        example = parse_proposal(PROPOSE_EXAMPLE, "example", 1)
        seen: list[str] = [example.prompt + " ".join(example.tests)] if example else []  # copies of the shown example are duplicates
        levels, rows, proposals = [], [], []
        for b in range(0, cfg.proposals_per_round, cfg.proposal_batch):
            size = min(cfg.proposal_batch, cfg.proposals_per_round - b)
            prompt = proposal_prompt(self.level)
            from prover.finetune.api import SamplingParams

            comps = policy.generate([prompt], SamplingParams(n=size, temperature=cfg.temperature,
                                                             max_new_tokens=cfg.max_new_tokens + 128,
                                                             seed=cfg.seed + 1000 * r + b))[0]
            raw = [c.text for c in comps]
            parsed = [parse_proposal(t, f"mined/r{r}/{b + i}", self.level) for i, t in enumerate(raw)]
            kept = self._filter(parsed, raw, seen, counts)
            proposals += [{"level": self.level, "text": t, "parsed": p.to_json() if p else None,
                           "kept": bool(p and p in kept)} for t, p in zip(raw, parsed)]
            levels.append(self.level)
            if not kept:
                continue
            groups = sample_and_verify(policy, self.verifier, kept, [first_attempt(p) for p in kept], n=cfg.solve_k,
                                       temperature=cfg.temperature, max_new_tokens=cfg.max_new_tokens,
                                       seed=cfg.seed + 1000 * r + b + 7, chunk=cfg.batch_size, desc=f"solve r{r}")
            always = sum(all(s.ok for s in g) for g in groups)
            never = sum(not any(s.ok for s in g) for g in groups)
            if always > len(groups) / 2:
                self.level = min(5, self.level + 1)
            elif never > len(groups) / 2:
                self.level = max(1, self.level - 1)
            for p, g in zip(kept, groups):
                rows.append({"problem": p.to_json(), "responses": [s.response for s in g],
                             "ok": [s.ok for s in g], "feedback": [s.verdict.feedback for s in g], "round": r})
        report = {"round": r, "proposed": cfg.proposals_per_round, "dropped": counts, "kept": len(rows),
                  "levels": levels, "next_level": self.level,
                  "solved_always": sum(all(x["ok"]) for x in rows), "solved_never": sum(not any(x["ok"]) for x in rows)}
        from prover.finetune.api import clean_obj

        (self.out / f"round{r}").mkdir(parents=True, exist_ok=True)
        (self.out / f"round{r}" / "proposals.json").write_text(json.dumps(clean_obj(proposals), indent=1))
        pairs.save_rows(rows, path, {"stage": "selfmine", "round": r, "report": report, "model": cfg.model})
        return report | {"rows": rows}

    # -- pairs ------------------------------------------------------------------------------------
    def build_pairs(self, mined: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        corrections, keeps = [], []
        for row in mined:
            p = Problem.from_json(row["problem"])
            good = [i for i, ok in enumerate(row["ok"]) if ok]
            bad = [i for i, ok in enumerate(row["ok"]) if not ok]
            first = first_attempt(p)
            for j, (b, g) in enumerate(zip(bad, good * len(bad))):
                if j >= self.cfg.max_pairs_per_problem:
                    break
                corrections.append(pair_row(error_fix(p, first, row["responses"][b], row["feedback"][b] or "(no details)"),
                                            row["responses"][g], problem_id=p.id, kind="correction", round=row["round"],
                                            broken=row["responses"][b], feedback=row["feedback"][b], control=""))
            if good:
                keeps.append(pair_row(check_repair(p, row["responses"][good[0]]), row["responses"][good[0]],
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
            out.append(pair_row(error_fix(p, first_attempt(p), row["broken"], fb), row["completion"][0]["content"],
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
                              max_new_tokens=cfg.max_new_tokens, seed=cfg.seed + 100, desc=f"eval {name}")
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
        pairs.save_rows(rows, self.out / "pairs" / name, {"stage": "selfmine", "arm": name, "model": self.cfg.model})
        adapter = train_sft(rows, self.cfg.model, self.out / "adapters" / name, self.cfg.sft, provenance={"arm": name})
        entry["train_loss"] = json.loads((adapter / "sft_done.json").read_text())["train_loss"]
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
            self.verifier.close()
        summary = {"config": asdict(cfg), "rounds": self.rounds, "arms": rows_out, "ks": ks,
                   "eval_problems": [p.id for p in self.held_out],
                   "note": "Arms trained from the same base on all rounds' pairs; evaluated on held-out eval_set problems."}
        write_run(self.out, summary, rows_out, ks, f"Self-mining ({cfg.rounds} rounds) -> held-out {cfg.eval_set}")
        return summary
