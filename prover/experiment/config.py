"""``ExperimentConfig``: a controlled experiment over training arms (``scripts/experiment.py``).

Every arm starts from the same model (the warm start of the RL default), trains for the same
number of optimizer steps with the same batch (so the same number of generated completions),
once per seed, and is evaluated on the same held-out statements. An arm is a set of
``TrainConfig`` overrides on top of the shared ``train`` settings (dotted keys).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

HELDOUT_SEED_MIN = 1_000_000  # generator seeds from here up are never used for training or the warm start

# Settings the runner sets per arm and seed: an arm or `train` must not set them.
RUNNER_KEYS = ("steps", "seed", "output_dir", "resume", "save_every", "model.name_or_path")


@dataclass
class HeldOutOptions:
    """The held-out evaluation of every arm (and of the start models)."""

    generator_seed: int = field(default=HELDOUT_SEED_MIN, metadata={
        "help": f"Generator seed of the held-out core-Lean statements (>= {HELDOUT_SEED_MIN}; statements that the "
                "warm start or training could draw are removed)."})
    levels: list[int] = field(default_factory=lambda: [0, 1, 2, 3], metadata={"help": "Generator levels held out."})
    per_level: int = field(default=4, metadata={"help": "Held-out statements per level."})
    minif2f_core: int = field(default=5, metadata={"help": "First N statements of MiniF2F-core test (0 = none; "
                                                           "data/minif2f_core.jsonl, scripts/build_minif2f_core.py)."})
    samples: int = field(default=4, metadata={"help": "First attempts per problem (n of pass@k)."})
    correction_budget: int = field(default=2, metadata={"help": "How many of each problem's first attempts get one "
                                                                "error-fix turn (Lean's feedback); 0 = no correction."})
    k: list[int] = field(default_factory=lambda: [1, 4], metadata={"help": "k values of pass@k (<= samples)."})
    temperature: float = field(default=0.4, metadata={"help": "Sampling temperature of the evaluation."})
    max_new_tokens: int = field(default=128, metadata={"help": "Completion length limit of the evaluation."})
    base_few_shot: int = field(default=3, metadata={"help": "Worked examples for the base (not warm-started) "
                                                            "model's baseline row; -1 = skip that baseline."})

    def __post_init__(self) -> None:
        if self.generator_seed < HELDOUT_SEED_MIN:
            raise ValueError(f"eval.generator_seed={self.generator_seed}: held-out seeds start at {HELDOUT_SEED_MIN} "
                             "(lower seeds are the training and warm-start seeds)")
        if not self.levels or any(not 0 <= lv <= 5 for lv in self.levels):
            raise ValueError(f"eval.levels={self.levels}: give generator levels in 0..5, e.g. [0, 1, 2, 3]")
        if self.per_level < 0 or self.minif2f_core < 0 or (self.per_level == 0 and self.minif2f_core == 0):
            raise ValueError("eval.per_level and eval.minif2f_core must be >= 0 and not both 0")
        if self.samples < 1 or not self.k or any(k < 1 or k > self.samples for k in self.k):
            raise ValueError(f"eval.k={self.k} with eval.samples={self.samples}: each k must be in 1..samples")
        if not 0 <= self.correction_budget <= self.samples:
            raise ValueError(f"eval.correction_budget={self.correction_budget}: use 0..samples ({self.samples})")
        if self.temperature <= 0:
            raise ValueError(f"eval.temperature={self.temperature}: pass@k needs sampling; use > 0, e.g. 0.4")
        if self.max_new_tokens < 1:
            raise ValueError(f"eval.max_new_tokens={self.max_new_tokens}: use a positive token count")
        if self.base_few_shot < -1:
            raise ValueError(f"eval.base_few_shot={self.base_few_shot}: use -1 (skip) or a count of examples")


def _default_arms() -> dict[str, dict[str, Any]]:
    return {
        "a_no_replay": {"replay.ratio": 0.0},
        "b_lean_feedback": {"replay.ratio": 0.5, "replay.feedback_mode": "verifier"},
        "c_shuffled_feedback": {"replay.ratio": 0.5, "replay.feedback_mode": "shuffled"},
        "d_binary_feedback": {"replay.ratio": 0.5, "replay.feedback_mode": "binary"},
    }


@dataclass
class ExperimentConfig:
    """A controlled experiment: arms x seeds from one start, equal budget, held-out evaluation."""

    out_dir: str = field(default="runs/replay_ablation", metadata={
        "help": "Experiment directory (per arm and seed: train/ and eval/; results.json, results.md, plot.png). "
                "Rerunning continues: a finished arm/seed is not redone."})
    seeds: list[int] = field(default_factory=lambda: [0, 1], metadata={"help": "Training seeds of every arm."})
    steps: int = field(default=4, metadata={"help": "Optimizer steps of every arm (the same budget for all)."})
    train: dict[str, Any] = field(default_factory=dict, metadata={
        "help": "TrainConfig settings shared by every arm (dotted keys, e.g. grpo.max_new_tokens: 128)."})
    arms: dict[str, dict[str, Any]] = field(default_factory=_default_arms, metadata={
        "help": "Arm name -> TrainConfig overrides (dotted keys). The first arm is the reference of the paired "
                "differences."})
    eval: HeldOutOptions = field(default_factory=HeldOutOptions, metadata={"help": "Held-out evaluation."})
    lean_workers: int = field(default=1, metadata={"help": "Workers of the one Lean verifier all arms share."})
    lean_timeout_s: float = field(default=60.0, metadata={"help": "Lean check deadline per proof (seconds)."})
    resamples: int = field(default=2000, metadata={"help": "Bootstrap resamples of the 95% intervals."})

    def __post_init__(self) -> None:
        if not self.seeds or len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise ValueError(f"seeds={self.seeds}: give distinct non-negative seeds, e.g. [0, 1]")
        if any(s >= HELDOUT_SEED_MIN for s in self.seeds):
            raise ValueError(f"seeds={self.seeds}: training seeds must be below {HELDOUT_SEED_MIN} (held out)")
        if self.steps < 1:
            raise ValueError(f"steps={self.steps}: train every arm for at least 1 step")
        if len(self.arms) < 1:
            raise ValueError("arms is empty: give at least one arm (name -> overrides)")
        for name, overrides in {"train": self.train, **{f"arms.{a}": o for a, o in self.arms.items()}}.items():
            if not isinstance(overrides, Mapping):
                raise ValueError(f"{name} must map dotted TrainConfig keys to values, got {type(overrides).__name__}")
            bad = [k for k, _ in flat_items(overrides) if k in RUNNER_KEYS]
            if bad:
                raise ValueError(f"{name} sets {bad}: the runner sets these (use steps / seeds of the experiment)")
        for name in self.arms:
            if not name or "/" in name or name.startswith("."):
                raise ValueError(f"arm name {name!r}: use a plain directory name such as b_lean_feedback")
        if self.lean_workers < 1 or self.lean_timeout_s <= 0:
            raise ValueError("lean_workers must be >= 1 and lean_timeout_s > 0")
        if self.resamples < 100:
            raise ValueError(f"resamples={self.resamples}: use at least 100 (default 2000)")

    @property
    def reference_arm(self) -> str:
        return next(iter(self.arms))


def flat_items(tree: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out = []
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and not dotted.endswith(("trl", "verifier", "columns")):
            out += flat_items(value, dotted + ".")
        else:
            out.append((dotted, value))
    return out


__all__ = ["ExperimentConfig", "HELDOUT_SEED_MIN", "HeldOutOptions", "flat_items"]
