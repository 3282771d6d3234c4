"""Counters of the replay core, flat for logging (``as_dict``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prover.types import CORRECTION_ORIGINS, REPLAY_ORIGINS, Sample, Status, Verdict

if TYPE_CHECKING:
    from prover.replay.mixer import MixedBatch



def _rate(num: int, den: int) -> float:
    return num / den if den else 0.0


@dataclass
class ReplayMetrics:
    """Store size, replay ratio, drops by reason, correction success, correct-to-wrong.

    Cumulative since construction, plus the ratio of the last batch.
    """

    store_failures: int = 0
    store_successes: int = 0
    drops: Counter[str] = field(default_factory=Counter)
    samples: Counter[str] = field(default_factory=Counter)  # batch samples by origin
    batches: int = 0
    last_batch_size: int = 0
    last_replay_ratio: float = 0.0
    last_target_ratio: float = 0.0
    attempted: Counter[str] = field(default_factory=Counter)  # verified outputs by origin (errors excluded)
    succeeded: Counter[str] = field(default_factory=Counter)
    infra_errors: Counter[str] = field(default_factory=Counter)
    correct_inputs: int = 0  # outputs of turns whose input was correct
    correct_to_wrong: int = 0  # ... that came out incorrect

    def record_drop(self, reason: str, n: int = 1) -> None:
        self.drops[reason] += n

    def record_store(self, failures: int, successes: int) -> None:
        self.store_failures, self.store_successes = failures, successes

    def record_batch(self, batch: "MixedBatch") -> None:
        self.batches += 1
        self.samples.update(s.origin for s in batch.samples)
        self.last_batch_size = len(batch.samples)
        self.last_replay_ratio = batch.achieved_ratio
        self.last_target_ratio = batch.target_ratio

    def record_outcome(self, sample: Sample, verdict: Verdict) -> None:
        if verdict.status is Status.ERROR:
            self.infra_errors[sample.origin] += 1
            return
        self.attempted[sample.origin] += 1
        if verdict.valid:
            self.succeeded[sample.origin] += 1
        if sample.input_was_correct:
            self.correct_inputs += 1
            if not verdict.valid:
                self.correct_to_wrong += 1

    # -- derived ------------------------------------------------------------------------
    @property
    def replay_ratio(self) -> float:
        """Share of replay samples over all batch samples so far."""
        total = sum(self.samples.values())
        return _rate(sum(self.samples[o] for o in REPLAY_ORIGINS), total)

    @property
    def correction_success_rate(self) -> float:
        return _rate(sum(self.succeeded[o] for o in CORRECTION_ORIGINS),
                     sum(self.attempted[o] for o in CORRECTION_ORIGINS))

    @property
    def correct_to_wrong_rate(self) -> float:
        return _rate(self.correct_to_wrong, self.correct_inputs)

    def success_rate(self, origin: str) -> float:
        return _rate(self.succeeded[origin], self.attempted[origin])

    def as_dict(self, prefix: str = "replay/") -> dict[str, Any]:
        d: dict[str, Any] = {
            "store_size": self.store_failures,
            "store_successes": self.store_successes,
            "batches": self.batches,
            "replay_ratio": self.replay_ratio,
            "last_replay_ratio": self.last_replay_ratio,
            "target_ratio": self.last_target_ratio,
            "correction_success_rate": self.correction_success_rate,
            "correct_to_wrong_rate": self.correct_to_wrong_rate,
            "correct_inputs": self.correct_inputs,
            "correct_to_wrong": self.correct_to_wrong,
            "drops_total": sum(self.drops.values()),
        }
        for reason, n in sorted(self.drops.items()):
            d[f"drops/{reason}"] = n
        for origin, n in sorted(self.samples.items()):
            d[f"samples/{origin}"] = n
        for origin in sorted(self.attempted):
            d[f"success_rate/{origin}"] = self.success_rate(origin)
        for origin, n in sorted(self.infra_errors.items()):
            d[f"infra_errors/{origin}"] = n
        return {prefix + k: v for k, v in d.items()}
