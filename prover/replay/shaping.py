"""Risk-aware reward shaping: breaking a correct input costs extra.

A check (preserve) or correction turn whose input was already correct and whose
output is incorrect gets ``reward - penalty``. Infrastructure errors are never
penalised (not the model's doing).
"""

from __future__ import annotations

from prover.types import Sample, Status, Verdict


def shaped_reward(sample: Sample, verdict: Verdict, penalty: float) -> float:
    """``verdict.reward``, minus ``penalty`` when a correct input became an incorrect output."""
    if verdict.status is Status.ERROR:
        return verdict.reward
    if sample.input_was_correct and not verdict.valid:
        return verdict.reward - penalty
    return verdict.reward


def turned_correct_to_wrong(sample: Sample, verdict: Verdict) -> bool:
    return sample.input_was_correct and verdict.is_model_failure


class RiskAwareShaper:
    """Callable ``(sample, verdict) -> reward`` with a fixed penalty."""

    def __init__(self, penalty: float) -> None:
        if penalty < 0:
            raise ValueError(f"penalty must be >= 0, got {penalty}")
        self.penalty = penalty

    def __call__(self, sample: Sample, verdict: Verdict) -> float:
        return shaped_reward(sample, verdict, self.penalty)
