"""Difficulty-aware selection: problems with mixed outcomes teach the most.

A problem whose attempts had both successes and failures is "mixed" (the
policy is at its frontier there); "solved" (never failed) and "unsolved"
(never succeeded) ones are down-weighted; "unseen" ones have their own weight.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Sequence, TypeVar

T = TypeVar("T")

CATEGORIES = ("unseen", "solved", "unsolved", "mixed")


@dataclass(frozen=True)
class ProblemStats:
    problem_id: str
    successes: int = 0
    failures: int = 0
    errors: int = 0
    last_step: int = 0

    @property
    def attempts(self) -> int:
        return self.successes + self.failures

    @property
    def solve_rate(self) -> float | None:
        return self.successes / self.attempts if self.attempts else None

    @property
    def category(self) -> str:
        if self.attempts == 0:
            return "unseen"
        if self.failures == 0:
            return "solved"
        if self.successes == 0:
            return "unsolved"
        return "mixed"


@dataclass(frozen=True)
class DifficultyWeights:
    mixed: float = 16.0
    unsolved: float = 0.3
    solved: float = 0.1
    unseen: float = 1.0

    @classmethod
    def from_config(cls, cfg: object) -> "DifficultyWeights":
        return cls(mixed=cfg.weight_mixed, unsolved=cfg.weight_unsolved,  # type: ignore[attr-defined]
                   solved=cfg.weight_solved, unseen=cfg.weight_unseen)  # type: ignore[attr-defined]

    def weight(self, stats: ProblemStats | None) -> float:
        category = stats.category if stats is not None else "unseen"
        return float(getattr(self, category))


def recency_factor(age_steps: int, half_life: int) -> float:
    """``0.5 ** (age / half_life)``; 1 when ``half_life`` is 0 (off)."""
    if half_life <= 0 or age_steps <= 0:
        return 1.0
    return 0.5 ** (age_steps / half_life)


def weighted_order(items: Sequence[T], weights: Sequence[float], rng: random.Random) -> list[T]:
    """Weighted random order without replacement (Efraimidis–Spirakis keys).

    Items of weight 0 are left out; the first ``k`` of the result are a weighted
    sample of size ``k``.
    """
    if len(items) != len(weights):
        raise ValueError(f"{len(items)} items but {len(weights)} weights")
    keyed = []
    for item, w in zip(items, weights):
        if w > 0:
            u = rng.random() or 1e-300
            keyed.append((math.log(u) / w, item))
    keyed.sort(key=lambda kv: kv[0], reverse=True)
    return [item for _, item in keyed]

