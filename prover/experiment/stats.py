"""Statistics of an experiment: pooled per-problem counts, pass@k with paired bootstrap intervals.

pass@k and its paired difference against the reference arm reuse
``prover.finetune.evaluate.pass_stats`` (bootstrap over held-out problems: one resample
draws problems with replacement and scores both arms on the same draw). Seeds are pooled
per problem: an arm's counts for a problem are the sums over its seeds' evaluations, so
the estimator averages over the trained models. The equal-budget correction gain is a
per-problem value too, and gets the same paired bootstrap (``paired_bootstrap``).
"""

from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

from prover.eval.passk import pass_at_k
from prover.finetune.evaluate import pass_stats

Counts = dict[str, dict[str, int]]  # problem id -> {"n", "c", "m", "c_corrected"}


def pool_seeds(per_seed: Sequence[Mapping[str, Mapping[str, Any]]]) -> Counts:
    """Sum the per-problem counts (``summary["per_problem"]`` of ``run_eval``) over seeds."""
    out: Counts = {}
    for summary in per_seed:
        for pid, row in summary.items():
            acc = out.setdefault(pid, {"n": 0, "c": 0, "m": 0, "c_corrected": 0})
            for key in acc:
                acc[key] += int(row.get(key, 0))
    return out


def paired_bootstrap(values: Mapping[str, float], base: Mapping[str, float] | None = None, *,
                     resamples: int = 2000, seed: int = 0) -> dict[str, Any]:
    """Mean of per-problem ``values`` with a 95% bootstrap interval; with ``base`` (same problems), the
    paired mean difference and its interval (both arms scored on the same resampled problems)."""
    ids = sorted(values)
    if base is not None and set(base) != set(ids):
        raise ValueError("paired bootstrap needs the same problems in both arms")
    if not ids:
        return {"value": 0.0, "ci95": [0.0, 0.0], "problems": 0}
    rng = random.Random(seed)
    means, diffs = [], []
    for _ in range(resamples):
        draw = [ids[rng.randrange(len(ids))] for _ in ids]
        means.append(sum(values[i] for i in draw) / len(draw))
        if base is not None:
            diffs.append(sum(values[i] - base[i] for i in draw) / len(draw))
    out: dict[str, Any] = {"value": round(sum(values.values()) / len(ids), 4), "ci95": _ci(means), "problems": len(ids)}
    if base is not None:
        out["delta_vs_base"] = round(sum(values[i] - base[i] for i in ids) / len(ids), 4)
        out["delta_ci95"] = _ci(diffs)
    return out


def _ci(xs: list[float]) -> list[float]:
    xs = sorted(xs)
    return [round(xs[int(0.025 * (len(xs) - 1))], 4), round(xs[int(0.975 * (len(xs) - 1))], 4)]


def pass_at(counts: Counts, ks: Sequence[int], base: Counts | None, *, resamples: int, seed: int = 0) -> dict[str, Any]:
    """``{"pass@k": pass_stats(...)}`` for every k the pooled samples allow."""
    plain = {pid: (r["n"], r["c"]) for pid, r in counts.items()}
    ref = {pid: (r["n"], r["c"]) for pid, r in base.items()} if base is not None else None
    n_min = min((r["n"] for r in counts.values()), default=0)
    return {f"pass@{k}": pass_stats(plain, k, base=ref, resamples=resamples, seed=seed) for k in ks if 1 <= k <= n_min}


def equal_budget_gain(counts: Counts, seeds: int) -> dict[str, float] | None:
    """Per problem: pass@1 of (first attempt + its fix) minus pass@2 of two first attempts (2 generations each).

    ``seeds`` evaluations were pooled: per seed ``m`` chains and ``n`` attempts, so chains are
    drawn from ``m * seeds`` and attempts from ``n * seeds``. None when there were no fixes or
    fewer than 2 attempts per problem.
    """
    out = {}
    for pid, r in counts.items():
        if r["m"] < 1 or r["n"] < 2:
            return None
        out[pid] = pass_at_k(r["m"], r["c_corrected"], 1) - pass_at_k(r["n"], r["c"], 2)
    return out


def by_source(counts: Counts, sources: Mapping[str, str], k: int = 1) -> dict[str, dict[str, Any]]:
    """pass@k per problem source (generator level or MiniF2F-core), without intervals."""
    groups: dict[str, list[float]] = {}
    for pid, r in counts.items():
        if r["n"] >= k:
            groups.setdefault(sources.get(pid, "other"), []).append(pass_at_k(r["n"], r["c"], k))
    return {src: {"problems": len(v), f"pass@{k}": round(sum(v) / len(v), 4)} for src, v in sorted(groups.items())}


def wilson(num: int, den: int, z: float = 1.959964) -> list[float] | None:
    """The Wilson score 95% interval of a binomial rate ``num / den`` (``None`` when ``den`` is 0): unlike the
    normal approximation it stays inside [0, 1] and is not empty at 0 of n or n of n."""
    if den <= 0:
        return None
    p = num / den
    centre = (p + z * z / (2 * den)) / (1 + z * z / den)
    half = z * ((p * (1 - p) / den + z * z / (4 * den * den)) ** 0.5) / (1 + z * z / den)
    return [round(max(0.0, centre - half), 4), round(min(1.0, centre + half), 4)]


def ratio(num: float, den: float) -> dict[str, Any]:
    """A rate with its counts and Wilson 95% interval (``ci``; None when nothing was counted)."""
    n, d = int(round(num)), int(round(den))
    return {"rate": round(num / den, 4) if den else None, "num": n, "den": d, "ci": wilson(n, d)}


__all__ = ["Counts", "by_source", "equal_budget_gain", "paired_bootstrap", "pass_at", "pool_seeds", "ratio",
           "wilson"]
