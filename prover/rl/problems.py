"""Training problems: the core-Lean generator at an adaptive level, or any dataset of ``prover.data.load``."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Sequence

from prover import data
from prover.data.core_lean import CoreLeanGenerator, DifficultyController
from prover.rl.config import ConfigError, TrainConfig
from prover.rl.metrics import Rollout
from prover.types import Problem


class ProblemSource:
    """Fresh problems offered to the replay mixer each step.

    ``generator``: core-Lean theorems at the level of a ``DifficultyController``;
    otherwise a fixed list (JSONL / MiniF2F) the mixer picks from by difficulty weight.
    """

    def __init__(self, cfg: TrainConfig) -> None:
        p = cfg.problems
        self.pool_size = p.pool_size
        self.generator: CoreLeanGenerator | None = None
        self.controller: DifficultyController | None = None
        self.fixed: list[Problem] = []
        self.overlap_report: dict[str, Any] | None = None  # problems.decontaminate: what was dropped, and why
        if p.source == "generator":
            self.generator = CoreLeanGenerator(seed=cfg.seed, max_level=p.difficulty.max_level)
            self.controller = DifficultyController(p.difficulty)
        else:
            self.fixed = load_problem_list(p.source, p.path, p.split, cfg.domain, p.limit, p.columns)
            if p.decontaminate:
                from prover.data.decontam import decontaminate, load_eval_sets

                self.fixed, self.overlap_report = decontaminate(self.fixed, load_eval_sets(p.decontaminate))

    @property
    def level(self) -> int | None:
        return self.controller.level if self.controller else None

    def pool(self, n: int) -> list[Problem]:
        if self.generator is not None and self.controller is not None:
            return self.generator.sample(self.controller.level, max(n, self.pool_size))
        return list(self.fixed)

    def observe(self, rollouts: Sequence[Rollout]) -> int | None:
        """Feed first-attempt outcomes to the difficulty controller; returns a new level if it moved."""
        if self.controller is None:
            return None
        moved = None
        by_group: dict[int, list[Rollout]] = defaultdict(list)
        for r in rollouts:
            if r.origin == "fresh" and r.level is not None and r.status != "error":
                by_group[r.group].append(r)
        for group in by_group.values():
            new = self.controller.observe(group[0].level, [r.solved for r in group])  # type: ignore[arg-type]
            moved = new if new is not None else moved
        return moved

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.generator is not None and self.controller is not None:
            out = {"generator": self.generator.state_dict(), "difficulty": self.controller.state_dict()}
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.generator is not None and self.controller is not None and state:
            self.generator.load_state_dict(state["generator"])
            self.controller.load_state_dict(state["difficulty"])


def load_problem_list(source: str, path: str, split: str, domain: str, limit: int = 0,
                      columns: dict[str, str] | None = None) -> list[Problem]:
    """A dataset's problems through ``prover.data.load`` (the same ids as evaluation and ``prover verify``)."""
    try:
        return data.load(source, split, path or None, limit, domain=domain, columns=columns)
    except (data.DataError, ValueError) as e:
        raise ConfigError(f"problems from {source!r}: {e}") from None


__all__ = ["ProblemSource", "load_problem_list"]
