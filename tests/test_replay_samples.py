"""Correction, retry, preserve and fresh samples; drops by reason."""

from __future__ import annotations

from collections import Counter

import pytest

from prover.prompts import PromptLimiter, first_attempt
from prover.replay import ReplayConfig, SampleBuilder, StoredAttempt, attempt_for
from prover.types import Attempt, Problem, Sample, Status, Verdict

P = Problem(id="p", domain="lean", statement="theorem t (n : Nat) : n + 0 = n := by")
FIRST = tuple(first_attempt(P, few_shot=1))
WRONG = "```lean4\ntheorem t (n : Nat) : n + 0 = n := by\n  ring\n```"
RIGHT = "```lean4\ntheorem t (n : Nat) : n + 0 = n := by\n  simp\n```"


def stored(verdict: Verdict, *, turn: str = "first", response: str = WRONG, aid: str = "a1") -> StoredAttempt:
    att = Attempt(problem_id=P.id, prompt=FIRST, response=response, turn=turn, id=aid)
    return StoredAttempt(row_id=1, problem=P, attempt=att, verdict=verdict, step=0, uses=0, created_at=0.0)


BAD = Verdict(Status.INVALID, 0.0, feedback="unknown tactic 'ring'")
GOOD = Verdict(Status.VALID, 1.0)


def builder(**kw) -> SampleBuilder:
    return SampleBuilder(ReplayConfig(db_path=":memory:", **kw))


def test_fix_sample_is_one_error_fix_turn():
    b = builder()
    s = b.fix(stored(BAD))
    assert s.origin == "fix" and s.source_attempt_id == "a1" and not s.input_was_correct
    msgs = s.messages()
    assert msgs[: len(FIRST)] == list(FIRST)
    assert msgs[len(FIRST)] == {"role": "assistant", "content": WRONG}
    assert "unknown tactic 'ring'" in msgs[-1]["content"] and msgs[-1]["role"] == "user"
    assert len(msgs) == len(FIRST) + 2 and not b.drops


@pytest.mark.parametrize("turn", ["fix", "retry", "check"])
def test_never_a_correction_of_a_correction(turn):
    b = builder()
    assert b.fix(stored(BAD, turn=turn)) is None
    assert b.retry(stored(BAD, turn=turn)) is None
    assert b.drops == Counter({"already_a_correction": 2}) and b.last_drop == "already_a_correction"


def test_infra_errors_are_not_replayed():
    b = builder()
    assert b.fix(stored(Verdict.infra_error("sandbox died"))) is None
    assert b.fix(stored(GOOD)) is None
    assert b.drops == Counter({"not_a_model_failure": 2})


def test_timeout_is_a_model_failure():
    s = builder().fix(stored(Verdict(Status.TIMEOUT, 0.0, feedback="deterministic timeout")))
    assert s is not None and "deterministic timeout" in s.messages()[-1]["content"]


def test_feedback_over_cap():
    over = Verdict(Status.INVALID, 0.0, feedback="x" * 50 + "\n... [feedback truncated]", feedback_over_cap=True)
    b = builder()
    assert b.fix(stored(over)) is None and b.drops == Counter({"feedback_over_cap": 1})
    kept = builder(drop_over_cap_feedback=False).fix(stored(over))
    assert kept is not None and "[feedback truncated]" in kept.messages()[-1]["content"]


def test_empty_feedback_becomes_retry_or_drop():
    empty = Verdict(Status.INVALID, 0.0, feedback="  ")
    s = builder().fix(stored(empty))
    assert s.origin == "retry" and "different approach" in s.messages()[-1]["content"]
    b = builder(empty_feedback="drop")
    assert b.fix(stored(empty)) is None and b.drops == Counter({"no_feedback": 1})


def test_prompt_too_long_is_dropped_not_cut():
    words = lambda msgs: sum(len(m["content"].split()) for m in msgs)  # noqa: E731
    limit = words(FIRST) + len(WRONG.split()) + 5  # the fix turn adds more than 5 words
    drops: Counter[str] = Counter()
    b = SampleBuilder(ReplayConfig(db_path=":memory:"), PromptLimiter(words, limit), drops=drops)
    assert b.fix(stored(BAD)) is None
    assert drops == Counter({"prompt_too_long": 1}) and b.last_drop == "prompt_too_long"
    assert b.fresh(P) is not None  # the shorter first-attempt prompt fits


def test_retry_sample():
    s = builder().retry(stored(BAD))
    assert s.origin == "retry" and s.source_attempt_id == "a1"
    assert "unknown tactic" not in s.messages()[-1]["content"]


def test_preserve_sample_from_correct_attempt():
    b = builder(few_shot=2)
    s = b.preserve(stored(GOOD, response=RIGHT, aid="ok1"))
    assert s.origin == "preserve" and s.input_was_correct and s.source_attempt_id == "ok1"
    assert "simp" in s.messages()[-1]["content"] and "may or may not" in s.messages()[-1]["content"]
    assert len(s.messages()) == 1 + 4 + 1
    assert b.preserve(stored(BAD)) is None and b.drops == Counter({"not_correct": 1})


def test_fresh_sample_and_attempt_for():
    s = builder(few_shot=3).fresh(P)
    assert s.origin == "fresh" and s.source_attempt_id == "" and len(s.messages()) == 8
    a = attempt_for(s, "resp")
    assert a.turn == "first" and a.parent_id == "" and a.id and a.response == "resp"
    fix = Sample(problem_id="p", prompt_messages=({"role": "user", "content": "x"},), origin="fix",
                 source_attempt_id="a1")
    b = attempt_for(fix, "r2", attempt_id="given")
    assert (b.turn, b.parent_id, b.id) == ("fix", "a1", "given")
    assert attempt_for(Sample("p", (), origin="preserve"), "r").turn == "check"
