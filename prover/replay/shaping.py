"""The training reward, computed in one place: verdict x format, then risk-aware shaping.

``reward = verdict.reward * format_score``; a check (preserve) or correction
turn whose input was already correct and whose output is not solved (invalid,
or valid but badly formatted) gets ``reward - penalty``: breaking a correct
input costs extra. An infrastructure error has no reward (``None``): TRL leaves
it out of its group's baseline, and it is never penalised (not the model's doing).
"""

from __future__ import annotations

from prover.types import Sample, Status, Verdict


def shaped_reward(sample: Sample, verdict: Verdict, penalty: float, format_score: float = 1.0) -> float | None:
    """The reward of one completion (None for an infrastructure error)."""
    if verdict.status is Status.ERROR:
        return None
    reward = verdict.reward * format_score
    solved = verdict.valid and format_score > 0
    if sample.input_was_correct and not solved:
        return reward - penalty
    return reward


def turned_correct_to_wrong(sample: Sample, verdict: Verdict) -> bool:
    return sample.input_was_correct and verdict.is_model_failure


class RiskAwareShaper:
    """Callable ``(sample, verdict, format_score=1) -> reward`` with a fixed penalty."""

    def __init__(self, penalty: float) -> None:
        if penalty < 0:
            raise ValueError(f"penalty must be >= 0, got {penalty}")
        self.penalty = penalty

    def __call__(self, sample: Sample, verdict: Verdict, format_score: float = 1.0) -> float | None:
        return shaped_reward(sample, verdict, self.penalty, format_score)
