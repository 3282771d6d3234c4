"""``MathVerifier``: the response's final answer against the reference, judged in the helper process.

The main process only checks types and sizes; extraction, parsing, comparison
and the strict layer all happen in ``equivalence.SymbolicChecker``'s helper
(``judge.judge``) under a deadline, so no model text is evaluated here.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from prover.verifiers.scale import check_scale_out
from prover.types import Problem, Status, Verdict
from prover.verifiers.base import Verifier, cap_text, check_lengths
from prover.verifiers.math.equivalence import Judgement, SymbolicChecker

FEEDBACK_MODES = ("detailed", "binary")
BINARY_FEEDBACK = "Your answer is incorrect."
MAX_REFERENCE_CHARS = 10_000  # a reference answer is short; a longer one is a bad row
_FEEDBACK = {
    "no_answer": "No final answer found; end the response with the final answer in \\boxed{{}}.",
    "truncated": "The response was cut off before its final answer was complete; your answer {answer!r} is incorrect.",
    "not_equal": "Your final answer {answer!r} is incorrect.",
    "equation": "Your final answer {answer!r} is incorrect: give the value (or 'name = value'), not an equation between numbers.",
    "rounded_decimal": "Your final answer {answer!r} is incorrect: a rounded decimal is not the exact answer.",
    "alternatives": "Your final answer {answer!r} is incorrect: give one answer, not alternatives ('A or B').",
    "approximate": "Your final answer {answer!r} is incorrect: give the exact value, not an approximation.",
    "nested_box": "Your answer is incorrect: put exactly one answer in one \\boxed{{}}.",
    "too_large": "Your final answer is incorrect: it holds a number too large to check (over 100,000 digits).",
    "too_long": "Your final answer is incorrect: the last \\boxed{{}} is far too long to be an answer.",
    "several_answers": "Your answer is incorrect: the response boxes several different answers; box exactly one.",
    "unfinished": "The response ends in an unfinished equation; your answer {answer!r} is incorrect.",
}


@dataclass
class MathVerifierConfig:
    """Settings of the math verifier (``prover verify --domain math``)."""

    symbolic_timeout_s: float = field(
        default=5.0,
        metadata={"help": "Seconds allowed for judging one response (math-verify extraction + comparison + strict checks, in a helper process killed on overrun)."},
    )
    max_response_chars: int = field(
        default=1_000_000,
        metadata={"help": "Longer responses are judged invalid without being read (no real solution is that long)."},
    )
    feedback_cap: int = field(default=3000, metadata={"help": "Most characters of feedback per sample (longer feedback is cut and flagged)."})
    feedback_mode: str = field(
        default="detailed",
        metadata={"help": "'detailed': says what was extracted and why it failed (never the reference); 'binary': only 'Your answer is incorrect.'"},
    )

    scale_out: dict = field(default_factory=dict, metadata={"help": "Verify elsewhere (prover.verifiers.get_verifier): "
        "{remote: {urls: [...]}} sends rows to prover serve instances; {ray: {actors: N, ...}} runs this verifier as "
        "Ray actors; Lean also {kimina: {urls: [...]}} (an existing kimina-lean-server). Empty = in this process. "
        "docs/serve.md says what each guarantees."})

    def __post_init__(self) -> None:
        check_scale_out(self.scale_out, 'math')
        t = self.symbolic_timeout_s
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 < t <= 600:
            raise ValueError(f"symbolic_timeout_s must be a number of seconds in (0, 600], got {t!r}; e.g. symbolic_timeout_s=5")
        m = self.max_response_chars
        if not isinstance(m, int) or isinstance(m, bool) or m < 1:
            raise ValueError(f"max_response_chars must be an integer >= 1, got {m!r}; e.g. max_response_chars=1000000")
        if not isinstance(self.feedback_cap, int) or isinstance(self.feedback_cap, bool) or self.feedback_cap < 0:
            raise ValueError(f"feedback_cap must be an integer >= 0 (0 = no cap), got {self.feedback_cap!r}; e.g. feedback_cap=3000")
        if self.feedback_mode not in FEEDBACK_MODES:
            raise ValueError(f"feedback_mode must be one of {FEEDBACK_MODES}, got {self.feedback_mode!r}; use 'binary' for STaR-style retries")


class MathVerifier(Verifier):
    """Batch of (math problem, response) -> ``Verdict``: VALID iff the final answer equals ``Problem.reference``."""

    domain = "math"

    def __init__(self, config: MathVerifierConfig | None = None) -> None:
        self.config = config or MathVerifierConfig()
        self._symbolic = SymbolicChecker(timeout_s=math.ceil(self.config.symbolic_timeout_s))

    def judge(self, reference: str, response: str) -> Judgement:
        """The helper's judgement of ``response`` against ``reference`` (see ``judge.py``)."""
        return self._symbolic.check(reference, response)

    def verify(self, problems: Sequence[Problem], responses: Sequence[str], *, progress: bool = False) -> list[Verdict]:
        check_lengths(problems, responses)
        pairs = zip(problems, responses)
        if progress:
            from tqdm import tqdm

            pairs = tqdm(pairs, total=len(problems), desc="verify math", unit="sample")
        return [self.verify_one(p, r) for p, r in pairs]

    def verify_one(self, problem: Problem, response: str) -> Verdict:
        t0 = time.perf_counter()
        if problem.domain != "math":
            return Verdict.infra_error(f"problem {problem.id!r} has domain {problem.domain!r}, not 'math'")
        if not problem.reference.strip():
            return Verdict.infra_error(f"problem {problem.id!r} has no reference answer")
        if len(problem.reference) > MAX_REFERENCE_CHARS:
            return Verdict.infra_error(f"problem {problem.id!r}: the reference answer is longer than {MAX_REFERENCE_CHARS} characters")
        if not isinstance(response, str):
            return Verdict.infra_error(f"response for {problem.id!r} is {type(response).__name__}, not str")
        if len(response) > self.config.max_response_chars:
            msg = f"The response is longer than {self.config.max_response_chars} characters; it was not read."
            return self._fail(Status.INVALID, msg, {"reason": "too_long"}, {}, t0)
        if not response.strip():
            return self._fail(Status.INVALID, "The response is empty; end it with the final answer in \\boxed{}.", {"reason": "empty"}, {}, t0)
        res = self.judge(problem.reference, response)
        timings = {"judge": time.perf_counter() - t0}
        details: dict[str, Any] = {"reason": res.reason, "answer": res.pred[:500], "method": "math-verify"}
        if res.defused:
            details["defused"] = res.defused
        if res.verdict == "broken":
            return Verdict(Status.ERROR, 0.0, feedback=f"math verifier error: {res.error}", details={**details, "reason": "helper"}, timings={**timings, "total": time.perf_counter() - t0})
        if res.verdict == "reference":
            msg = f"math verifier error: the reference answer of {problem.id!r} could not be parsed"
            return Verdict(Status.ERROR, 0.0, feedback=msg, details={**details, "reason": "reference"}, timings={**timings, "total": time.perf_counter() - t0})
        if res.verdict == "equal":
            return Verdict(Status.VALID, 1.0, details=details, timings={**timings, "total": time.perf_counter() - t0})
        if res.verdict == "timeout":
            msg = f"Your final answer {res.pred[:200]!r} could not be checked in time; simplify it." if res.pred else "Your answer could not be checked in time; state it in a simpler form."
            return self._fail(Status.TIMEOUT, msg, details, timings, t0)
        return self._fail(Status.INVALID, _FEEDBACK.get(res.reason, _FEEDBACK["not_equal"]).format(answer=res.pred[:200]), details, timings, t0)

    def _fail(self, status: Status, feedback: str, details: dict[str, Any], timings: dict[str, float], t0: float) -> Verdict:
        if self.config.feedback_mode == "binary":
            feedback = BINARY_FEEDBACK
        text, over = cap_text(feedback, self.config.feedback_cap)
        return Verdict(status, 0.0, feedback=text, feedback_over_cap=over, details=details, timings={**timings, "total": time.perf_counter() - t0})

    def close(self) -> None:
        self._symbolic.close()


__all__ = ["BINARY_FEEDBACK", "MathVerifier", "MathVerifierConfig"]
