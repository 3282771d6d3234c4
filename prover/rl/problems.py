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
        self.keep_mixed = p.keep_mixed
        self.offered: dict[str, Problem] = {}  # generator: the latest pool, by id (observed in the same step)
        self.carried: dict[str, tuple[Problem, int]] = {}  # generator: problems with a mixed latest group, level
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
        """Fresh candidates: new generator problems at the current level, after the carried ones (problems whose
        latest group had mixed rewards, ``problems.keep_mixed``); or the fixed list."""
        if self.generator is not None and self.controller is not None:
            level = self.controller.level
            carried = [prob for prob, lvl in self.carried.values() if lvl == level]
            new = self.generator.sample(level, max(n, self.pool_size))
            self.offered = {prob.id: prob for prob in [*carried, *new]}
            return [*carried, *new]
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
            self._carry(group)
        return moved

    def _carry(self, group: list[Rollout]) -> None:
        """Keep a problem whose group had both outcomes for later pools; drop it once a group has one outcome."""
        pid, level = group[0].problem_id, group[0].level
        outcomes = {r.solved for r in group}
        self.carried.pop(pid, None)
        if self.keep_mixed and len(outcomes) == 2 and pid in self.offered and level is not None:
            self.carried[pid] = (self.offered[pid], level)
            while len(self.carried) > self.keep_mixed:  # the oldest goes first
                self.carried.pop(next(iter(self.carried)))

    def state_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.generator is not None and self.controller is not None:
            out = {"generator": self.generator.state_dict(), "difficulty": self.controller.state_dict(),
                   "carried": [[prob.to_json(), level] for prob, level in self.carried.values()]}
        return out

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if self.generator is not None and self.controller is not None and state:
            self.generator.load_state_dict(state["generator"])
            self.controller.load_state_dict(state["difficulty"])
            carried = [(Problem.from_json(d), int(level)) for d, level in state.get("carried", [])]
            self.carried = {prob.id: (prob, level) for prob, level in carried}


def load_problem_list(source: str, path: str, split: str, domain: str, limit: int = 0,
                      columns: dict[str, str] | None = None) -> list[Problem]:
    """A dataset's problems through ``prover.data.load`` (the same ids as evaluation and ``prover verify``)."""
    try:
        return data.load(source, split, path or None, limit, domain=domain, columns=columns)
    except (data.DataError, ValueError) as e:
        raise ConfigError(f"problems from {source!r}: {e}") from None


__all__ = ["ProblemSource", "load_problem_list"]
