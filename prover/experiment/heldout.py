"""The held-out statements of an experiment: generator seeds never trained on, and MiniF2F-core test.

Generated statements are drawn from ``eval.generator_seed`` (>= 1,000,000). Distinct seeds
can still produce the same statement text (the small levels have few shapes), so every
statement that the warm start or the arms' training generators could draw is removed by
text: the warm-start candidates, and for each training seed the first
``pool_size * (steps + 1)`` problems of every level (the generator hands out problems
in index order per level, ``pool_size`` per step at most).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from prover.data.core_lean import MAX_LEVEL, CoreLeanGenerator
from prover.types import Problem


def trainable_statements(seeds: Sequence[int], steps: int, pool_size: int, warm_start: Any) -> set[str]:
    """Every statement text the warm start and the training runs (``seeds``, ``steps``) could see."""
    from prover.finetune.warm_default import candidate_pairs

    seen = {p.statement for p, _ in candidate_pairs(warm_start)}
    per_level = pool_size * (steps + 1)
    for seed in seeds:
        gen = CoreLeanGenerator(seed=seed)
        for level in range(MAX_LEVEL + 1):
            seen.update(gen.problem(level, i).statement for i in range(per_level))
    return seen


def generated(seed: int, levels: Sequence[int], per_level: int, exclude: set[str]) -> list[Problem]:
    """``per_level`` distinct held-out statements per level, none of them in ``exclude``."""
    gen = CoreLeanGenerator(seed=seed)
    out: list[Problem] = []
    for level in levels:
        taken: set[str] = set()
        index = 0
        while len(taken) < per_level and index < 200 * max(1, per_level):
            p = gen.problem(level, index)
            index += 1
            if p.statement in exclude or p.statement in taken:
                continue
            taken.add(p.statement)
            meta = {**p.meta, "source": f"core_lean_l{level}", "heldout_seed": seed}
            out.append(dataclasses.replace(p, id=f"heldout-{p.id}", meta=meta))
    return out


def minif2f_core(limit: int) -> list[Problem]:
    if limit <= 0:
        return []
    from prover import data

    problems = data.load("minif2f_core", "test", None, limit, domain="lean")
    return [dataclasses.replace(p, meta={**p.meta, "source": "minif2f_core_test"}) for p in problems]


def heldout_problems(cfg: Any, train_cfg: Any) -> list[Problem]:
    """The experiment's held-out set (``cfg``: ``ExperimentConfig``; ``train_cfg``: the shared ``TrainConfig``)."""
    exclude = trainable_statements(cfg.seeds, cfg.steps, train_cfg.problems.pool_size, train_cfg.warm_start)
    problems = generated(cfg.eval.generator_seed, cfg.eval.levels, cfg.eval.per_level, exclude)
    problems += minif2f_core(cfg.eval.minif2f_core)
    ids = [p.id for p in problems]
    if len(set(ids)) != len(ids):
        raise ValueError("held-out problem ids collide; use another eval.generator_seed")
    return problems


__all__ = ["generated", "heldout_problems", "minif2f_core", "trainable_statements"]
