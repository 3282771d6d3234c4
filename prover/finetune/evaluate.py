"""Sampling + verification helpers and the held-out evaluation with bootstrap intervals."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from prover.finetune.api import Problem, SamplingParams, Status, Verdict, first_attempt, pass_at_k, verify


@dataclass(frozen=True)
class Sampled:
    """One sampled response with its verdict."""

    problem: Problem
    prompt: tuple[Mapping[str, str], ...]
    response: str
    verdict: Verdict
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.verdict.status == Status.VALID


def sample_and_verify(policy: Any, verifier: Any, problems: Sequence[Problem], prompts: Sequence[Sequence[Mapping[str, str]]],
                      *, n: int, temperature: float, max_new_tokens: int, seed: int, chunk: int = 8,
                      desc: str = "sample") -> list[list[Sampled]]:
    """``n`` responses per prompt, each verified; outer list follows ``problems``."""
    from tqdm.auto import tqdm

    out: list[list[Sampled]] = []
    params = SamplingParams(n=n, temperature=temperature, max_new_tokens=max_new_tokens, seed=seed)
    per_call = max(1, chunk // n)
    for start in tqdm(range(0, len(problems), per_call), desc=desc, unit="batch"):
        probs = list(problems[start:start + per_call])
        msgs = [list(m) for m in prompts[start:start + per_call]]
        comps = policy.generate(msgs, params)
        flat = [(p, m, c) for p, m, cs in zip(probs, msgs, comps) for c in cs]
        verdicts = verify(verifier, [p for p, _, _ in flat], [c.text for _, _, c in flat])
        it = iter(zip(flat, verdicts))
        for _ in probs:
            group = []
            for _ in range(n):
                (p, m, c), v = next(it)
                group.append(Sampled(p, tuple(m), c.text, v, c.truncated))
            out.append(group)
    return out


def evaluate(policy: Any, verifier: Any, problems: Sequence[Problem], *, n: int, temperature: float,
             max_new_tokens: int, seed: int, few_shot: int = 0, desc: str = "eval") -> dict[str, tuple[int, int]]:
    """``{problem id: (n, correct)}`` for zero-shot first attempts on held-out ``problems``."""
    prompts = [first_attempt(p, few_shot=few_shot) for p in problems]
    groups = sample_and_verify(policy, verifier, problems, prompts, n=n, temperature=temperature,
                               max_new_tokens=max_new_tokens, seed=seed, desc=desc)
    return {p.id: (n, sum(s.ok for s in g)) for p, g in zip(problems, groups)}


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def pass_stats(counts: Mapping[str, tuple[int, int]], k: int, *, base: Mapping[str, tuple[int, int]] | None = None,
               resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """pass@k with a 95% bootstrap interval over problems; with ``base``, the paired difference too."""
    ids = sorted(counts)
    if not ids:
        return {"k": k, "value": 0.0, "ci95": [0.0, 0.0], "problems": 0}
    vals = {i: pass_at_k(*counts[i], k) for i in ids}
    bvals = {i: pass_at_k(*base[i], k) for i in ids} if base is not None else None
    rng = random.Random(seed)
    boots, diffs = [], []
    for _ in range(resamples):
        draw = [ids[rng.randrange(len(ids))] for _ in ids]
        boots.append(_mean([vals[i] for i in draw]))
        if bvals is not None:
            diffs.append(_mean([vals[i] - bvals[i] for i in draw]))

    def ci(xs: list[float]) -> list[float]:
        xs = sorted(xs)
        return [round(xs[int(0.025 * (len(xs) - 1))], 4), round(xs[int(0.975 * (len(xs) - 1))], 4)]

    out: dict[str, Any] = {"k": k, "value": round(_mean(list(vals.values())), 4), "ci95": ci(boots), "problems": len(ids)}
    if bvals is not None:
        out["delta_vs_base"] = round(_mean([vals[i] - bvals[i] for i in ids]), 4)
        out["delta_ci95"] = ci(diffs)
    return out
