"""Prompt builders for every domain/turn kind, few-shot examples, the length limiter."""

from __future__ import annotations

from collections import Counter

import pytest

from prover.prompts import (
    FEW_SHOT,
    PromptLimiter,
    binary_retry,
    candidate_text,
    check_repair,
    error_fix,
    answer_block,
    few_shot_turns,
    first_attempt,
)
from prover.types import Problem

try:
    from fixtures_policy import get_policy
except ImportError:  # tests/ imported as a package
    from tests.fixtures_policy import get_policy

LEAN = Problem(id="p1", domain="lean", statement="theorem t (n : Nat) : n + 0 = n := by",
               header="open Nat", prompt="Show that adding zero changes nothing.")
CODE_HE = Problem(id="c1", domain="code", prompt='def inc(x: int) -> int:\n    """Add one."""\n',
                  entry_point="inc", test_code="assert inc(1) == 2")
CODE_MBPP = Problem(id="c2", domain="code", prompt="Write a function to double a number.",
                    tests=("assert double(2) == 4",))
MATH = Problem(id="m1", domain="math", prompt="What is 2 + 2?", reference="4")


def roles(msgs):
    return [m["role"] for m in msgs]


def test_lean_first_attempt_wording():
    msgs = first_attempt(LEAN)
    assert roles(msgs) == ["system", "user"]
    assert msgs[0]["content"] == "You are an expert in mathematics and Lean 4."
    user = msgs[1]["content"]
    assert user.startswith("Problem: Show that adding zero changes nothing.")
    assert "```lean4\nopen Nat\ntheorem t (n : Nat) : n + 0 = n := by\n```" in user
    assert "one final ```lean4 code block" in user


def test_lean_without_informal_or_header():
    p = Problem(id="p2", domain="lean", statement="theorem u : 1 = 1 := by")
    user = first_attempt(p)[-1]["content"]
    assert "Problem:" not in user
    assert "```lean4\ntheorem u : 1 = 1 := by\n```" in user


def test_code_and_math_wording():
    he = first_attempt(CODE_HE)[-1]["content"]
    assert "```python\ndef inc(x: int) -> int:" in he and "```python code block" in he
    mbpp = first_attempt(CODE_MBPP)[-1]["content"]
    assert "assert double(2) == 4" in mbpp and "```python code block" in mbpp
    math = first_attempt(MATH)
    assert math[0]["content"] == "You are an expert in mathematics."
    assert "\\boxed{}" in math[-1]["content"]


def test_few_shot_turns():
    msgs = first_attempt(LEAN, few_shot=3)
    assert roles(msgs) == ["system"] + ["user", "assistant"] * 3 + ["user"]
    answers = " ".join(m["content"] for m in msgs if m["role"] == "assistant")
    for tactic in ("omega", "decide", "induction"):
        assert tactic in answers
    for m in msgs[1:-1:2]:
        assert "```lean4\ntheorem ex" in m["content"]  # same format as the real question
    assert len(few_shot_turns("lean", 99)) == 2 * len(FEW_SHOT["lean"])
    assert few_shot_turns("code", 1)[1]["content"].startswith("```python")
    with pytest.raises(ValueError):
        first_attempt(LEAN, few_shot=-1)


def test_error_fix_turn():
    first = first_attempt(LEAN, few_shot=1)
    failed = "```lean4\ntheorem t (n : Nat) : n + 0 = n := by\n  ring\n```"
    msgs = error_fix(LEAN, first, failed, "unknown tactic 'ring'")
    assert msgs[: len(first)] == first
    assert msgs[len(first)] == {"role": "assistant", "content": failed}
    last = msgs[-1]
    assert last["role"] == "user"
    assert "unknown tactic 'ring'" in last["content"]
    assert "corrected complete theorem" in last["content"] and "```lean4" in last["content"]
    assert first == first_attempt(LEAN, few_shot=1)  # input not mutated
    with pytest.raises(ValueError):
        error_fix(LEAN, msgs[:-1], failed, "x")  # must continue from a user turn


def test_binary_retry_has_no_details():
    first = first_attempt(MATH)
    msgs = binary_retry(MATH, first, "The answer is \\boxed{5}.")
    assert roles(msgs) == ["system", "user", "assistant", "user"]
    text = msgs[-1]["content"]
    assert "Your solution failed" in text and "different approach" in text
    assert "\\boxed{5}" not in text


def test_check_repair_shows_candidate_block():
    response = "Reasoning...\n```lean4\ntheorem t (n : Nat) : n + 0 = n := by\n  simp\n```\nDone."
    msgs = check_repair(LEAN, response, few_shot=2)
    assert roles(msgs) == ["system"] + ["user", "assistant"] * 2 + ["user"]
    user = msgs[-1]["content"]
    assert "may or may not be correct" in user
    assert "```lean4\ntheorem t (n : Nat) : n + 0 = n := by\n  simp\n```" in user
    assert "Reasoning..." not in user  # only the final block is shown
    assert candidate_text(MATH, "  42  ") == "42"


def test_answer_block():
    text = "```python\nx=1\n```\n```lean\na\n```\n```lean4\nb\n```"
    assert answer_block(LEAN, text) == "b"
    code = Problem(id="c", domain="code", prompt="Write f.", tests=("assert f(1) == 1",))
    assert answer_block(code, text) == "x=1"
    assert answer_block(LEAN, "no block") is None


def test_prompt_limiter_drops_and_counts():
    words = lambda msgs: sum(len(m["content"].split()) for m in msgs)  # noqa: E731
    drops: Counter[str] = Counter()
    lim = PromptLimiter(words, max_tokens=30, drops=drops)
    short = first_attempt(MATH)
    long = error_fix(MATH, short, "word " * 50, "wrong")
    assert lim.check(short) is short
    assert lim.check(long) is None
    assert drops == Counter({"prompt_too_long": 1})
    assert lim.filter([short, long, short], reason="fix_too_long") == [0, 2]
    assert drops["fix_too_long"] == 1
    with pytest.raises(ValueError):
        PromptLimiter(words, 0)


@pytest.mark.model
@pytest.mark.slow
def test_limiter_with_chat_template():
    pol = get_policy()
    msgs = first_attempt(LEAN, few_shot=3)
    n = pol.prompt_token_count(msgs)
    assert n > 100  # three worked examples plus the chat template
    lim = PromptLimiter.from_tokenizer(pol.tokenizer, max_tokens=n)
    assert lim.check(msgs) is msgs
    lim = PromptLimiter.from_tokenizer(pol.tokenizer, max_tokens=n - 1)
    assert lim.check(msgs) is None and lim.drops["prompt_too_long"] == 1
