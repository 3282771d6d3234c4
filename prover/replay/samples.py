"""Training samples built from fresh problems and stored attempts.

* ``fix``: exactly one error-fix turn on a first-attempt failure (a failure of
  a fix/retry/check turn is never corrected again: no correction of a correction).
* ``retry``: the binary "it failed, try again differently" turn.
* ``preserve``: a correct attempt shown as a candidate for checking
  (``input_was_correct=True``; see ``shaping``).

Every sample keeps the id of the attempt it came from (``source_attempt_id``).
Dropped candidates are counted by reason (``DROP_REASONS``).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from typing import Callable, Mapping, Sequence

from prover.prompts import PromptLimiter, binary_retry, check_repair, error_fix, first_attempt
from prover.replay.config import ReplayConfig
from prover.replay.store import StoredAttempt
from prover.types import TURN_OF_ORIGIN, Attempt, Origin, Problem, Sample, Turn

DROP_REASONS = (
    "not_a_model_failure",  # verdict was an infrastructure error (or not a failure at all)
    "already_a_correction",  # the failure came from a fix/retry/check turn
    "feedback_over_cap",  # verifier feedback exceeded its cap
    "no_feedback",  # empty feedback with empty_feedback='drop'
    "not_correct",  # preserve asked for an attempt that is not correct
    "prompt_too_long",  # the built prompt exceeds max_prompt_tokens
    "no_shuffle_donor",  # feedback_mode=shuffled and no stored failure of another problem has feedback
)

# feedback_mode=binary: what the error-fix turn shows instead of the verifier's feedback.
BINARY_FEEDBACK = "Your proof failed."
DONOR_POOL = 200  # recent stored failures searched for another problem's feedback (feedback_mode=shuffled)



def _freeze(messages: Sequence[Mapping[str, str]]) -> tuple[dict[str, str], ...]:
    return tuple(dict(m) for m in messages)


def attempt_for(sample: Sample, response: str, attempt_id: str = "") -> Attempt:
    """The ``Attempt`` a response to ``sample`` is: turn from its origin, parent = its source."""
    return Attempt(
        problem_id=sample.problem_id,
        prompt=_freeze(sample.prompt_messages),
        response=response,
        turn=TURN_OF_ORIGIN[sample.origin].value,
        id=attempt_id or uuid.uuid4().hex,
        parent_id=sample.source_attempt_id,
    )


class SampleBuilder:
    """Builds samples and counts drops (in ``drops``, shared with ``ReplayMetrics.drops`` if given)."""

    def __init__(self, cfg: ReplayConfig, limiter: PromptLimiter | None = None,
                 drops: Counter[str] | None = None,
                 donors: Callable[[], Sequence[StoredAttempt]] | None = None,
                 rng: random.Random | None = None) -> None:
        """``donors``: recent stored failures, the pool ``feedback_mode=shuffled`` draws another problem's
        feedback from (required in that mode); ``rng`` picks the donor."""
        if cfg.feedback_mode == "shuffled" and donors is None:
            raise ValueError("feedback_mode=shuffled needs a donor pool (stored failures of other problems)")
        self.cfg = cfg
        self.donors = donors
        self.rng = rng or random.Random(cfg.seed + 7)
        self.drops: Counter[str] = drops if drops is not None else Counter()
        self.limiter = limiter
        if limiter is not None:
            limiter.drops = self.drops  # one place for every drop reason
        self.last_drop = ""  # reason of the last ``None`` returned

    def _drop(self, reason: str) -> None:
        self.drops[reason] += 1
        self.last_drop = reason

    def _fits(self, messages: Sequence[Mapping[str, str]]) -> bool:
        if self.limiter is None or self.limiter.check(messages, "prompt_too_long") is not None:
            return True
        self.last_drop = "prompt_too_long"
        return False

    def fresh(self, problem: Problem) -> Sample | None:
        msgs = first_attempt(problem, few_shot=self.cfg.few_shot)
        if not self._fits(msgs):
            return None
        return Sample(problem_id=problem.id, prompt_messages=_freeze(msgs), origin=Origin.FRESH)

    def _failure_ok(self, failure: StoredAttempt) -> bool:
        if not failure.verdict.is_model_failure:
            self._drop("not_a_model_failure")
            return False
        if failure.attempt.turn != Turn.FIRST:
            self._drop("already_a_correction")
            return False
        return True

    def fix(self, failure: StoredAttempt) -> Sample | None:
        """One error-fix turn on a first-attempt failure; an empty feedback may become a retry."""
        if not self._failure_ok(failure):
            return None
        verdict = failure.verdict
        if verdict.feedback_over_cap and self.cfg.drop_over_cap_feedback:
            self._drop("feedback_over_cap")
            return None
        if not verdict.feedback.strip():
            if self.cfg.empty_feedback == "retry":
                return self.retry(failure, checked=True)
            self._drop("no_feedback")
            return None
        shown = self.shown_feedback(failure)
        if shown is None:
            self._drop("no_shuffle_donor")
            return None
        msgs = error_fix(failure.problem, failure.attempt.prompt, failure.attempt.response, shown)
        if not self._fits(msgs):
            return None
        return Sample(problem_id=failure.problem.id, prompt_messages=_freeze(msgs), origin=Origin.FIX,
                      source_attempt_id=failure.id, input_was_correct=False)

    def shown_feedback(self, failure: StoredAttempt) -> str | None:
        """The text an error-fix turn on ``failure`` shows (``feedback_mode``); None: no donor (shuffled).

        The same failures are selected and dropped in every mode; only this text differs.
        ``shuffled`` never shows the failure's own problem's feedback: the donor is a failure of
        another problem (same domain) whose feedback text also differs from this failure's.
        """
        mode = self.cfg.feedback_mode
        if mode == "verifier":
            return failure.verdict.feedback
        if mode == "binary":
            return BINARY_FEEDBACK
        own = failure.verdict.feedback.strip()
        pool = [d for d in (self.donors() if self.donors else ())
                if d.problem.id != failure.problem.id and d.problem.domain == failure.problem.domain
                and d.verdict.feedback.strip() and d.verdict.feedback.strip() != own
                and not d.verdict.feedback_over_cap]
        if not pool:
            return None
        return self.rng.choice(pool).verdict.feedback

    def retry(self, failure: StoredAttempt, *, checked: bool = False) -> Sample | None:
        """The binary retry turn (no feedback shown)."""
        if not checked and not self._failure_ok(failure):
            return None
        msgs = binary_retry(failure.problem, failure.attempt.prompt, failure.attempt.response)
        if not self._fits(msgs):
            return None
        return Sample(problem_id=failure.problem.id, prompt_messages=_freeze(msgs), origin=Origin.RETRY,
                      source_attempt_id=failure.id, input_was_correct=False)

    def preserve(self, success: StoredAttempt) -> Sample | None:
        """A correct attempt shown for checking: the right answer should stay right."""
        if not success.verdict.valid:
            self._drop("not_correct")
            return None
        msgs = check_repair(success.problem, success.attempt.response, few_shot=self.cfg.few_shot)
        if not self._fits(msgs):
            return None
        return Sample(problem_id=success.problem.id, prompt_messages=_freeze(msgs), origin=Origin.PRESERVE,
                      source_attempt_id=success.id, input_was_correct=True)
