"""Format reward, repeated-line filter, total reward with risk-aware shaping."""

from __future__ import annotations

import pytest

from prover.rl.config import FormatOptions
from prover.replay.shaping import shaped_reward
from prover.rl.rewards import format_check, repeated_line, solved
from prover.types import Problem, Sample, Status, Verdict

OPTS = FormatOptions()
PROOF = "```lean4\ntheorem t (a : Nat) : a + 0 = a := by\n  simp\n```"


LEAN = Problem(id="t", domain="lean", statement="theorem t (a : Nat) : a + 0 = a := by")
CODE = Problem(id="c", domain="code", prompt="Write f.", tests=("assert f(1) == 1",))
MATH = Problem(id="m", domain="math", prompt="1?", reference="1")


def lean(text: str, opts: FormatOptions = OPTS) -> str:
    return format_check(LEAN, text, opts).reason or "ok"


@pytest.mark.parametrize("text, expected", [
    (PROOF, "ok"),
    ("Some reasoning first.\n\n" + PROOF + "\n\n  \n", "ok"),
    ("no code at all", "no_block"),
    (PROOF + "\nThis proof works because simp.", "text_after_block"),
    (PROOF + "\n" + PROOF, "too_many_blocks"),
    ("```lean4\ntheorem t : True := by\n  trivial", "unclosed_block"),
    ("```lean\ntheorem t : True := by\n  trivial\n```", "ok"),  # the verifier reads ```lean too
    ("```Lean4\ntheorem t : True := by\n  trivial\n```", "ok"),
    (PROOF + "\n```python\nprint(1)\n```", "text_after_block"),
    ("```lean\nexample : True := trivial\n```\n" + PROOF, "too_many_blocks"),
])
def test_lean_format(text, expected):
    assert lean(text) == expected


def test_lean_format_options():
    two = PROOF + "\n" + PROOF
    assert lean(two, FormatOptions(max_blocks=0)) == "ok"
    assert lean(PROOF + "\nexplanation", FormatOptions(nothing_after_block=False)) == "ok"
    assert lean("anything", FormatOptions(enabled=False)) == "ok"


def test_repeated_line_filter():
    loop = "```lean4\ntheorem t : True := by\n" + "  have h : 1 = 1 := rfl\n" * 6 + "  trivial\n```"
    assert lean(loop) == "repeated_lines"
    assert lean(loop, FormatOptions(max_line_repeats=0)) == "ok"
    assert lean(loop, FormatOptions(max_line_repeats=10)) == "ok"
    assert repeated_line("omega\nomega\nomega\nomega\nomega\nomega", 4, 8) is None  # short lines not counted
    assert repeated_line("abcdefgh\n" * 5, 4, 8) == "abcdefgh"


def test_code_and_math_format():
    code = "Here you go:\n```python\ndef f(x):\n    return x\n```"
    assert format_check(CODE, code, OPTS).ok
    assert format_check(CODE, code + "\nDone.", OPTS).reason == "text_after_block"
    assert format_check(CODE, "def f(x): return x", OPTS).reason == "no_block"
    assert format_check(MATH, "so the answer is \\boxed{\\frac{1}{2}}.", OPTS).ok
    assert format_check(MATH, "the answer is 4", OPTS).ok  # a marker without a box (formats.math.format_ok)
    assert format_check(MATH, "4", OPTS).reason == "no_answer_marker"
    assert format_check(MATH, "\\boxed{}", OPTS).reason == "no_answer_marker"


def test_code_format_options_and_unfenced_code():
    assert format_check(CODE, "def f(x): return x", FormatOptions(require_block=False)).ok  # the verifier runs it
    assert format_check(CODE, "```python\ndef f(x):\n    return x", OPTS).reason == "unclosed_block"
    assert format_check(CODE, "```py\ndef f(x):\n    return x\n```", OPTS).ok  # ```py: same as the verifier
    two = "```python\nx = 1\n```\n```python\ndef f(x):\n    return x\n```"
    assert format_check(CODE, two, OPTS).reason == "too_many_blocks"
    assert format_check(CODE, two, FormatOptions(max_blocks=0)).ok


FRESH = Sample(problem_id="p", prompt_messages=(), origin="fresh")
PRESERVE = Sample(problem_id="p", prompt_messages=(), origin="preserve", input_was_correct=True)
VALID = Verdict(Status.VALID, 1.0)
INVALID = Verdict(Status.INVALID, 0.0, feedback="error: unsolved goals")
ERROR = Verdict.infra_error("checker crashed")
GOOD = format_check(LEAN, PROOF, OPTS)
BAD = format_check(LEAN, PROOF + "\ntrailing words", OPTS)


def total_reward(sample, verdict, fmt, penalty):
    return shaped_reward(sample, verdict, penalty, fmt.score)


def test_total_reward_is_verdict_times_format_then_shaping():
    assert total_reward(FRESH, VALID, GOOD, 0.5) == 1.0
    assert total_reward(FRESH, VALID, BAD, 0.5) == 0.0
    assert total_reward(FRESH, INVALID, GOOD, 0.5) == 0.0
    assert total_reward(FRESH, ERROR, GOOD, 0.5) is None  # left out of the group baseline
    # risk-aware: a correct input turned wrong (or badly formatted) costs the penalty
    assert total_reward(PRESERVE, VALID, GOOD, 0.5) == 1.0
    assert total_reward(PRESERVE, INVALID, GOOD, 0.5) == -0.5
    assert total_reward(PRESERVE, VALID, BAD, 0.5) == -0.5
    assert total_reward(PRESERVE, ERROR, GOOD, 0.5) is None
    assert total_reward(PRESERVE, INVALID, GOOD, 0.0) == 0.0


def test_format_never_changes_the_verdict():
    assert VALID.valid and not BAD.ok  # a valid answer stays valid; only its reward is multiplied
    assert solved(VALID, GOOD) and not solved(VALID, BAD) and not solved(INVALID, GOOD)
