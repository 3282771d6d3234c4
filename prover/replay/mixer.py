"""``BatchMixer``: replay samples at the configured ratio, fresh problems otherwise.

Per batch of size B: ``round(ratio * B)`` replay slots, of which
``preserve_fraction`` go to preserve samples and, of the rest,
``retry_fraction`` to binary retries and the remainder to error-fix turns.
Slots the store cannot fill (empty, exhausted, every candidate dropped) go to
fresh problems. Stored attempts and fresh problems are picked by difficulty
weights (and, for failures, recency). The ratio achieved is reported.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

from prover.replay.config import ReplayConfig
from prover.replay.difficulty import DifficultyWeights, recency_factor, weighted_order
from prover.replay.metrics import ReplayMetrics
from prover.replay.samples import SampleBuilder
from prover.replay.store import Candidate, AttemptStore, StoredAttempt
from prover.types import REPLAY_ORIGINS, Problem, Sample


@dataclass
class MixedBatch:
    """Samples for one training step, with the problem of every sample."""

    samples: list[Sample]
    problems: dict[str, Problem]
    fresh_used: list[Problem] = field(default_factory=list)
    target_ratio: float = 0.0
    sources: dict[str, StoredAttempt] = field(default_factory=dict)  # source_attempt_id -> stored attempt

    @property
    def counts(self) -> Counter[str]:
        return Counter(s.origin for s in self.samples)

    @property
    def n_replay(self) -> int:
        return sum(1 for s in self.samples if s.origin in REPLAY_ORIGINS)

    @property
    def achieved_ratio(self) -> float:
        return self.n_replay / len(self.samples) if self.samples else 0.0

    def problem_of(self, sample: Sample) -> Problem:
        return self.problems[sample.problem_id]

    def __len__(self) -> int:
        return len(self.samples)


def split_slots(batch_size: int, cfg: ReplayConfig) -> tuple[int, int, int]:
    """(fix, retry, preserve) slot targets for a batch of ``batch_size``."""
    replay = round(cfg.ratio * batch_size)
    preserve = round(replay * cfg.preserve_fraction)
    retry = round((replay - preserve) * cfg.retry_fraction)
    return replay - preserve - retry, retry, preserve


class BatchMixer:
    def __init__(self, store: AttemptStore, cfg: ReplayConfig, builder: SampleBuilder,
                 metrics: ReplayMetrics | None = None, rng: random.Random | None = None) -> None:
        self.store = store
        self.cfg = cfg
        self.builder = builder
        self.metrics = metrics
        self.rng = rng or random.Random(cfg.seed)
        self.weights = DifficultyWeights.from_config(cfg)

    def _order(self, cands: list[Candidate], step: int) -> list[Candidate]:
        stats = self.store.problem_stats([c.problem_id for c in cands])
        w = [self.weights.weight(stats.get(c.problem_id)) * recency_factor(step - c.step, self.cfg.recency_half_life)
             for c in cands]
        return weighted_order(cands, w, self.rng)

    def _take(self, order: list[Candidate], want: int, build: Callable[[StoredAttempt], Sample | None],
              batch: MixedBatch, used: list[str], dropped: dict[str, list[str]], taken: set[str]) -> None:
        """Build up to ``want`` samples from ``order`` (loading rows in small chunks)."""
        got = 0
        pos = 0
        while got < want and pos < len(order):
            chunk = [c for c in order[pos:pos + 2 * (want - got) + 4] if c.attempt_id not in taken]
            pos += 2 * (want - got) + 4
            for stored in self.store.get_many([c.attempt_id for c in chunk]):
                if got >= want:
                    break
                taken.add(stored.id)
                sample = build(stored)
                if sample is None:
                    dropped.setdefault(self.builder.last_drop or "dropped", []).append(stored.id)
                    continue
                batch.samples.append(sample)
                batch.problems[stored.problem.id] = stored.problem
                batch.sources[stored.id] = stored
                used.append(stored.id)
                got += 1

    def next_batch(self, fresh: Sequence[Problem], batch_size: int, *, step: int = 0) -> MixedBatch:
        """A batch of at most ``batch_size`` samples (fewer only when fresh problems run out)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n_fix, n_retry, n_preserve = split_slots(batch_size, self.cfg)
        batch = MixedBatch(samples=[], problems={}, target_ratio=self.cfg.ratio)
        used: list[str] = []
        dropped: dict[str, list[str]] = {}
        taken: set[str] = set()
        if n_fix + n_retry:
            failures = self._order(self.store.candidates(correct=False, max_uses=self.cfg.max_uses), step)
            self._take(failures, n_fix, self.builder.fix, batch, used, dropped, taken)
            self._take(failures, n_retry, self.builder.retry, batch, used, dropped, taken)
        if n_preserve:
            successes = self._order(self.store.candidates(correct=True, turns=None, max_uses=self.cfg.max_uses), step)
            self._take(successes, n_preserve, self.builder.preserve, batch, used, dropped, taken)
        self._fill_fresh(batch, fresh, batch_size - len(batch.samples))
        self.store.mark_used(used)
        for reason, ids in dropped.items():
            self.store.mark_dropped(ids, reason)
        if self.metrics is not None:
            self.metrics.record_batch(batch)
        return batch

    def _fill_fresh(self, batch: MixedBatch, fresh: Sequence[Problem], want: int) -> None:
        if want <= 0 or not fresh:
            return
        stats = self.store.problem_stats([p.id for p in fresh])
        order = weighted_order(list(fresh), [self.weights.weight(stats.get(p.id)) for p in fresh], self.rng)
        for problem in order:
            if want <= 0:
                break
            sample = self.builder.fresh(problem)
            if sample is None:
                continue
            batch.samples.append(sample)
            batch.problems[problem.id] = problem
            batch.fresh_used.append(problem)
            want -= 1
