"""``ReplayConfig``: the failure store, the batch mix, selection and shaping."""

from __future__ import annotations

from dataclasses import dataclass, field

EMPTY_FEEDBACK = ("retry", "drop")
# What an error-fix turn shows: the verifier's own feedback, another problem's (control), or only "it failed".
FEEDBACK_MODES = ("verifier", "shuffled", "binary")


@dataclass
class ReplayConfig:
    """Settings of the replay/correction core (``prover.replay.ReplayCore``)."""

    db_path: str = field(
        default="replay.sqlite",
        metadata={"help": "SQLite file of the failure store (created if missing; survives restarts). "
                          "':memory:' keeps it in memory (tests only: nothing survives)."},
    )
    ratio: float = field(
        default=0.5,
        metadata={"help": "Share of each training batch given to replay samples (error-fix, retry, "
                          "preserve) when the store has them; the rest are fresh problems. In [0, 1]."},
    )
    capacity: int = field(
        default=5000,
        metadata={"help": "Failures kept in the store (most recent N; older ones are trimmed)."},
    )
    success_capacity: int = field(
        default=5000,
        metadata={"help": "Correct attempts kept for preserve/check samples (most recent N); 0 keeps none."},
    )
    preserve_fraction: float = field(
        default=0.1,
        metadata={"help": "Share of the replay slots used for preserve samples (a correct attempt shown "
                          "for checking). In [0, 1]."},
    )
    retry_fraction: float = field(
        default=0.0,
        metadata={"help": "Share of the remaining correction slots given to binary-retry turns "
                          "(\"it failed, try again\", no feedback) instead of error-fix turns. In [0, 1]."},
    )
    max_uses: int = field(
        default=1,
        metadata={"help": "How many times one stored attempt may be replayed; 0 means without limit."},
    )
    correct_to_wrong_penalty: float = field(
        default=0.5,
        metadata={"help": "Extra reward penalty when a check/correction turns a correct input into an "
                          "incorrect output (risk-aware shaping). >= 0; 0 turns shaping off."},
    )
    weight_mixed: float = field(
        default=16.0,
        metadata={"help": "Selection weight of problems with both successes and failures so far (Fail2Fix's "
                          "preference: 16 draws such a problem about as often as a 16-problem generator pool of "
                          "unseen ones together; problems.keep_mixed offers them again)."},
    )
    weight_unsolved: float = field(
        default=0.3,
        metadata={"help": "Selection weight of problems attempted but never solved."},
    )
    weight_solved: float = field(
        default=0.1,
        metadata={"help": "Selection weight of problems solved every time so far."},
    )
    weight_unseen: float = field(
        default=1.0,
        metadata={"help": "Selection weight of fresh problems never attempted."},
    )
    recency_half_life: int = field(
        default=0,
        metadata={"help": "Halve a failure's replay weight every this many training steps of age; 0 = off."},
    )
    drop_over_cap_feedback: bool = field(
        default=True,
        metadata={"help": "Drop failures whose verifier feedback exceeded its cap (counted as "
                          "feedback_over_cap) instead of showing the capped text."},
    )
    empty_feedback: str = field(
        default="retry",
        metadata={"help": "A failure without feedback text: 'retry' (use a binary-retry turn) or 'drop'."},
    )
    feedback_mode: str = field(
        default="verifier",
        metadata={"help": f"What an error-fix turn shows, one of {FEEDBACK_MODES}: the verifier's feedback on "
                          "that attempt; 'shuffled' = the feedback of a stored failure of ANOTHER problem (the "
                          "control for privileged information); 'binary' = only \"your proof failed\" (same "
                          "prompt template, no details)."},
    )
    store_followup_failures: bool = field(
        default=False,
        metadata={"help": "Also store failed fix/retry/check outputs (never replayed: no correction of a "
                          "correction; kept for analysis only, they use store capacity)."},
    )
    max_prompt_tokens: int = field(
        default=2048,
        metadata={"help": "Replay and fresh prompts longer than this (tokens, chat template applied) are "
                          "dropped and counted as prompt_too_long."},
    )
    few_shot: int = field(
        default=0,
        metadata={"help": "Worked examples put before each fresh/check prompt (built-in set, up to 4 for Lean). "
                          "Small models need ~3 to write Lean at all."},
    )
    seed: int = field(default=0, metadata={"help": "Seed of the mixer's weighted sampling."})

    def __post_init__(self) -> None:
        if not self.db_path:
            raise ValueError("ReplayConfig.db_path is empty: give a file path such as runs/x/replay.sqlite")
        for name in ("ratio", "preserve_fraction", "retry_fraction"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"ReplayConfig.{name}={value}: use a fraction in [0, 1]")
        if self.capacity < 1:
            raise ValueError(f"ReplayConfig.capacity={self.capacity}: keep at least 1 failure (default 5000)")
        if self.success_capacity < 0:
            raise ValueError(f"ReplayConfig.success_capacity={self.success_capacity}: use 0 (none) or a positive count")
        if self.max_uses < 0:
            raise ValueError(f"ReplayConfig.max_uses={self.max_uses}: use 0 (no limit) or a positive count")
        if self.correct_to_wrong_penalty < 0:
            raise ValueError(
                f"ReplayConfig.correct_to_wrong_penalty={self.correct_to_wrong_penalty}: use >= 0 (0 disables)")
        for name in ("weight_mixed", "weight_unsolved", "weight_solved", "weight_unseen"):
            if getattr(self, name) < 0:
                raise ValueError(f"ReplayConfig.{name}={getattr(self, name)}: weights must be >= 0 (0 = never pick)")
        if self.recency_half_life < 0:
            raise ValueError(f"ReplayConfig.recency_half_life={self.recency_half_life}: use 0 (off) or steps > 0")
        if self.empty_feedback not in EMPTY_FEEDBACK:
            raise ValueError(f"ReplayConfig.empty_feedback={self.empty_feedback!r}: use one of {EMPTY_FEEDBACK}")
        if self.feedback_mode not in FEEDBACK_MODES:
            raise ValueError(f"ReplayConfig.feedback_mode={self.feedback_mode!r}: use one of {FEEDBACK_MODES}")
        if self.max_prompt_tokens < 1:
            raise ValueError(f"ReplayConfig.max_prompt_tokens={self.max_prompt_tokens}: use a positive token count")
        if self.few_shot < 0:
            raise ValueError(f"ReplayConfig.few_shot={self.few_shot}: use 0 (none) or a small count such as 3")
