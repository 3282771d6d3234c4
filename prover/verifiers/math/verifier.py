"""``MathVerifier``: final answers compared with the reference, exactly or symbolically."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from prover.types import Problem, Status, Verdict
from prover.verifiers.base import RowError, Verifier, cap_text, check_lengths
from prover.verifiers.math.equivalence import SymbolicChecker
from prover.verifiers.math.extract import extract_final_answer, normalize_answer, strip_for_number, to_number

FEEDBACK_MODES = ("detailed", "binary")
BINARY_FEEDBACK = "Your answer is incorrect."


@dataclass
class MathVerifierConfig:
    """Settings of the math verifier (``prover verify --domain math``)."""

    symbolic_timeout_s: float = field(
        default=5.0,
        metadata={"help": "Seconds allowed for one symbolic comparison (math-verify/SymPy, in a helper process killed on overrun)."},
    )
    allow_last_number: bool = field(
        default=False,
        metadata={"help": "Fall back to the last number of the response when it has no \\boxed{}, '####' or 'final answer is'."},
    )
    feedback_cap: int = field(default=3000, metadata={"help": "Most characters of feedback per sample (longer feedback is cut and flagged)."})
    feedback_mode: str = field(
        default="detailed",
        metadata={"help": "'detailed': says what was extracted and why it failed (never the reference); 'binary': only 'Your answer is incorrect.'"},
    )

    def __post_init__(self) -> None:
        t = self.symbolic_timeout_s
        if not isinstance(t, (int, float)) or isinstance(t, bool) or not 0 < t <= 600:
            raise ValueError(f"symbolic_timeout_s must be a number of seconds in (0, 600], got {t!r}; e.g. symbolic_timeout_s=5")
        if not isinstance(self.allow_last_number, bool):
            raise ValueError(f"allow_last_number must be true or false, got {self.allow_last_number!r}")
        if not isinstance(self.feedback_cap, int) or isinstance(self.feedback_cap, bool) or self.feedback_cap < 0:
            raise ValueError(f"feedback_cap must be an integer >= 0 (0 = no cap), got {self.feedback_cap!r}; e.g. feedback_cap=3000")
        if self.feedback_mode not in FEEDBACK_MODES:
            raise ValueError(f"feedback_mode must be one of {FEEDBACK_MODES}, got {self.feedback_mode!r}; use 'binary' for STaR-style retries")


@dataclass(frozen=True)
class Comparison:
    equal: bool
    method: str  # "numeric" | "string" | "symbolic"
    timed_out: bool = False
    error: str = ""
    broken: bool = False


class MathVerifier(Verifier):
    """Batch of (math problem, response) -> ``Verdict``: VALID iff the final answer equals ``Problem.reference``."""

    domain = "math"

    def __init__(self, config: MathVerifierConfig | None = None) -> None:
        self.config = config or MathVerifierConfig()
        self._symbolic = SymbolicChecker(timeout_s=math.ceil(self.config.symbolic_timeout_s))

    @classmethod
    def problem_from_row(cls, row: Mapping[str, Any]) -> Problem:
        """Row -> Problem: ``id``, ``answer`` (the reference; string or number), optional ``prompt``/``question``."""
        if "id" not in row:
            raise RowError("id", "is missing")
        pid = row["id"]
        if isinstance(pid, bool) or not isinstance(pid, (str, int)) or not str(pid).strip():
            raise RowError("id", f"must be a non-empty string, got {pid!r}")
        if "answer" not in row:
            raise RowError("answer", "is missing (the reference final answer, e.g. \"72\" or \"\\\\frac{1}{2}\")")
        answer = row["answer"]
        if isinstance(answer, bool) or not isinstance(answer, (str, int, float)):
            raise RowError("answer", f"must be a string or a number, got {type(answer).__name__}")
        if isinstance(answer, float) and not math.isfinite(answer):
            raise RowError("answer", f"must be a finite number, got {answer!r}")
        reference = str(answer).strip()
        if not reference:
            raise RowError("answer", "must not be empty")
        prompt = row.get("prompt", row.get("question", ""))
        if not isinstance(prompt, str):
            raise RowError("prompt", f"must be a string, got {type(prompt).__name__}")
        return Problem(id=str(pid), domain="math", prompt=prompt, reference=reference)

    def compare(self, reference: str, answer: str) -> Comparison:
        """Is ``answer`` equal to ``reference``? Exact for plain numbers, else math-verify."""
        gold, pred = normalize_answer(reference), normalize_answer(answer)
        gold_num = to_number(gold)
        if gold_num is not None:
            pred = strip_for_number(pred)
            pred_num = to_number(pred)
            if pred_num is not None:
                return Comparison(gold_num == pred_num, "numeric")
        if gold.replace(" ", "") == pred.replace(" ", ""):
            return Comparison(True, "string")
        res = self._symbolic.check(gold, pred)
        return Comparison(res.equal, "symbolic", res.timed_out, res.error, res.broken)

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
        if not isinstance(response, str):
            return Verdict.infra_error(f"response for {problem.id!r} is {type(response).__name__}, not str")
        found = extract_final_answer(response, allow_last_number=self.config.allow_last_number)
        t_extract = time.perf_counter() - t0
        if found.answer is None:
            return self._fail(Status.INVALID, found.message, {"reason": found.reason}, {"extract": t_extract}, t0)
        details: dict[str, Any] = {"answer": found.answer[:500], "source": found.source}
        t1 = time.perf_counter()
        cmp = self.compare(problem.reference, found.answer)
        timings = {"extract": t_extract, "compare": time.perf_counter() - t1}
        details["method"] = cmp.method
        if cmp.broken or cmp.error.startswith("could not parse the reference"):
            details["reason"] = "reference" if not cmp.broken else "helper"
            return Verdict(Status.ERROR, 0.0, feedback=f"math verifier error: {cmp.error}", details=details, timings={**timings, "total": time.perf_counter() - t0})
        if cmp.equal:
            details["reason"] = "equal"
            return Verdict(Status.VALID, 1.0, details=details, timings={**timings, "total": time.perf_counter() - t0})
        if cmp.timed_out:
            details["reason"] = "symbolic_timeout"
            msg = f"Your final answer {found.answer[:200]!r} could not be checked in time; simplify it."
            return self._fail(Status.TIMEOUT, msg, details, timings, t0)
        details["reason"] = "not_equal"
        return self._fail(Status.INVALID, f"Your final answer {found.answer[:200]!r} is incorrect.", details, timings, t0)

    def _fail(self, status: Status, feedback: str, details: dict[str, Any], timings: dict[str, float], t0: float) -> Verdict:
        if self.config.feedback_mode == "binary":
            feedback = BINARY_FEEDBACK
        text, over = cap_text(feedback, self.config.feedback_cap)
        return Verdict(status, 0.0, feedback=text, feedback_over_cap=over, details=details, timings={**timings, "total": time.perf_counter() - t0})

    def close(self) -> None:
        self._symbolic.close()


__all__ = ["BINARY_FEEDBACK", "Comparison", "MathVerifier", "MathVerifierConfig"]
