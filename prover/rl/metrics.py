"""Per-step training metrics: computed from the step's rollouts, written to TensorBoard and JSONL.

Keys of every step row (``STEP_KEYS``): reward mean/std, solve rate per stream
(``fresh`` = base rollouts, ``correction`` = fix + retry turns, ``preserve``),
correction success rate, correct-to-wrong rate, share of groups with zero reward
variance, feedback-over-cap rate, achieved replay ratio, tokens per second,
verifier time share, and over the fresh groups the mean per-sample solve rate
(``solve_rate/sample``), the share of groups with at least one solved sample
(``solve_rate/any_in_group``) and their difference (``diversity_gap``). These are
plain rates of this step's samples, not the unbiased pass@k estimator of
``prover.eval.passk`` (evaluation's pass@k), and are named so.

A shrinking diversity gap means the samples of a group agree more and more
(diversity collapse): the policy then stops finding new solutions by sampling.
``CollapseDetector`` warns when the recent gap falls well below its earlier best.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from prover.types import CORRECTION_ORIGINS

log = logging.getLogger(__name__)

CORRECTION = CORRECTION_ORIGINS
STEP_KEYS = (
    "reward_mean", "reward_std", "solve_rate/fresh", "solve_rate/correction", "solve_rate/preserve",
    "correction_success_rate", "correct_to_wrong_rate", "frac_zero_std_groups", "feedback_over_cap_rate",
    "replay_ratio", "tokens_per_s", "verifier_time_share", "solve_rate/sample",
    "solve_rate/any_in_group", "diversity_gap",
)


@dataclass(frozen=True)
class Rollout:
    """One scored completion, as the metrics see it."""

    group: int  # completions of one prompt share a group
    origin: str  # fresh | fix | retry | preserve | eval
    reward: float | None  # None: infrastructure error (no reward)
    solved: bool
    status: str
    input_was_correct: bool = False
    feedback_over_cap: bool = False
    tokens: int = 0
    level: int | None = None
    problem_id: str = ""


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _std(xs: Sequence[float]) -> float:
    if len(xs) < 2:
        return 0.0
    m = _mean(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1))


def _rate(num: int, den: int) -> float:
    return num / den if den else 0.0


def groups_of(rollouts: Iterable[Rollout]) -> dict[int, list[Rollout]]:
    out: dict[int, list[Rollout]] = defaultdict(list)
    for r in rollouts:
        out[r.group].append(r)
    return dict(out)


def group_solve_rates(rollouts: Sequence[Rollout]) -> tuple[float, float, int]:
    """(mean per-group solve fraction, share of groups with a solved sample, groups)."""
    groups = [g for g in groups_of(rollouts).values() if g]
    if not groups:
        return 0.0, 0.0, 0
    p1 = _mean([sum(r.solved for r in g) / len(g) for g in groups])
    pn = _mean([1.0 if any(r.solved for r in g) else 0.0 for g in groups])
    return p1, pn, len(groups)


def step_metrics(rollouts: Sequence[Rollout], *, replay_ratio: float, step_time_s: float,
                 verifier_wait_s: float) -> dict[str, float]:
    """The per-step metrics of ``STEP_KEYS`` (plus counts) from the step's rollouts."""
    scored = [r.reward for r in rollouts if r.reward is not None]
    by_origin: dict[str, list[Rollout]] = defaultdict(list)
    for r in rollouts:
        by_origin[r.origin].append(r)

    def solve_rate(origins: Sequence[str]) -> float:
        rs = [r for o in origins for r in by_origin.get(o, []) if r.status != "error"]
        return _rate(sum(r.solved for r in rs), len(rs))

    groups = [[r.reward for r in g if r.reward is not None] for g in groups_of(rollouts).values()]
    groups = [g for g in groups if g]
    zero_std = sum(1 for g in groups if max(g) - min(g) < 1e-9)
    fresh = by_origin.get("fresh", [])
    fresh_failures = [r for r in fresh if r.status in ("invalid", "timeout")]
    correct_inputs = [r for r in rollouts if r.input_was_correct and r.status != "error"]
    p1, pn, n_groups = group_solve_rates([r for r in fresh if r.status != "error"])
    tokens = sum(r.tokens for r in rollouts)
    corr = [r for o in CORRECTION for r in by_origin.get(o, []) if r.status != "error"]
    return {
        "reward_mean": _mean(scored),
        "reward_std": _std(scored),
        "solve_rate/fresh": solve_rate(("fresh",)),
        "solve_rate/correction": solve_rate(CORRECTION),
        "solve_rate/preserve": solve_rate(("preserve",)),
        "correction_success_rate": _rate(sum(r.solved for r in corr), len(corr)),
        "correct_to_wrong_rate": _rate(sum(not r.solved for r in correct_inputs), len(correct_inputs)),
        "frac_zero_std_groups": _rate(zero_std, len(groups)),
        "feedback_over_cap_rate": _rate(sum(r.feedback_over_cap for r in fresh_failures), len(fresh_failures)),
        "replay_ratio": replay_ratio,
        "tokens_per_s": tokens / step_time_s if step_time_s > 0 else 0.0,
        "verifier_time_share": min(1.0, verifier_wait_s / step_time_s) if step_time_s > 0 else 0.0,
        "solve_rate/sample": p1,
        "solve_rate/any_in_group": pn,
        "diversity_gap": pn - p1,
        "completions": float(len(rollouts)),
        "completion_tokens": float(tokens),
        "infra_errors": float(sum(r.status == "error" for r in rollouts)),
        "groups/fresh": float(n_groups),
        "samples/fresh": float(len(fresh)),
        "samples/correction": float(len(corr)),
        "samples/preserve": float(len(by_origin.get("preserve", []))),
        "step_time_s": step_time_s,
        "verifier_wait_s": verifier_wait_s,
    }


class CollapseDetector:
    """Warns when the mean diversity gap (any-in-group minus per-sample solve rate) of the last ``window`` steps drops below
    ``(1 - drop)`` times the best earlier window mean (only while some groups remain unsolved)."""

    def __init__(self, window: int = 4, drop: float = 0.5, min_best: float = 0.05) -> None:
        self.window = window
        self.drop = drop
        self.min_best = min_best
        self.recent: deque[float] = deque(maxlen=window)
        self.best = 0.0
        self.warned = False

    def update(self, gap: float, any_solved: float) -> str | None:
        self.recent.append(gap)
        if len(self.recent) < self.window:
            return None
        current = sum(self.recent) / len(self.recent)
        message = None
        if self.best >= self.min_best and current < (1 - self.drop) * self.best and any_solved < 1.0:
            if not self.warned:
                message = (f"diversity collapse: the diversity gap (groups with a solve minus samples solved) fell to {current:.3f} (best {self.best:.3f}); "
                           "the samples of a group agree, so sampling stops finding new proofs. Consider a higher "
                           "temperature, clip_high, fewer steps per batch, or a KL term (grpo.beta).")
            self.warned = True
        elif current >= (1 - self.drop) * self.best:
            self.warned = False
        self.best = max(self.best, current)
        return message

    def state_dict(self) -> dict[str, Any]:
        return {"recent": list(self.recent), "best": self.best, "warned": self.warned}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.recent = deque((float(x) for x in state.get("recent", [])), maxlen=self.window)
        self.best = float(state.get("best", 0.0))
        self.warned = bool(state.get("warned", False))


def _scalar(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
        return float(value)
    return None


class MetricsLogger:
    """JSONL rows (``<run>/metrics.jsonl``) and TensorBoard scalars (``<run>/tb``), one row per step."""

    def __init__(self, run_dir: str | Path, *, tensorboard: bool = True, resume_step: int | None = None) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.jsonl_path = self.run_dir / "metrics.jsonl"
        self.tb_dir = self.run_dir / "tb" if tensorboard else None
        if resume_step is not None:
            self.truncate_after(resume_step)
        self._fh = open(self.jsonl_path, "a", encoding="utf-8")
        self._writer = None
        if self.tb_dir is not None:
            from torch.utils.tensorboard import SummaryWriter

            # purge_step drops events a killed run wrote after the checkpoint we resume from
            self._writer = SummaryWriter(str(self.tb_dir), purge_step=resume_step + 1 if resume_step else None)

    def truncate_after(self, step: int) -> None:
        """Drop rows of steps after ``step`` (written by a run killed after its last checkpoint)."""
        if not self.jsonl_path.exists():
            return
        kept = []
        for line in self.jsonl_path.read_text(encoding="utf-8").splitlines():
            try:
                if int(json.loads(line).get("step", 0)) <= step:
                    kept.append(line)
            except (ValueError, TypeError):
                continue
        tmp = self.jsonl_path.with_name(self.jsonl_path.name + ".tmp")
        tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
        os.replace(tmp, self.jsonl_path)

    def log(self, step: int, row: Mapping[str, Any]) -> dict[str, Any]:
        record = {"step": step, "time": time.time(), **row}
        self._fh.write(json.dumps(record, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()
        if self._writer is not None:
            for key, value in row.items():
                v = _scalar(value)
                if v is not None:
                    self._writer.add_scalar(key, v, step)
            self._writer.flush()
        return record

    def text(self, step: int, tag: str, text: str) -> None:
        if self._writer is not None:
            self._writer.add_text(tag, text, step)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None


__all__ = ["STEP_KEYS", "CollapseDetector", "MetricsLogger", "Rollout", "group_solve_rates", "step_metrics"]
