"""MathVerifier: answer extraction, equivalence, timeouts, rows, feedback."""

from __future__ import annotations

import dataclasses
import sys
import time

import pytest

from prover.types import Problem, Status
from prover.verifiers.base import RowError
from prover.verifiers.math import BINARY_FEEDBACK, MathVerifier, MathVerifierConfig, boxed_spans, format_ok
from prover.verifiers.math.equivalence import SymbolicChecker


@pytest.fixture
def verifier(math_verifier):
    return math_verifier


def verdict(verifier, reference, response):
    return verifier.verify_one(Problem(id="q", domain="math", reference=reference), response)


# ---------------------------------------------------------------- format (for the format reward) and boxes


@pytest.mark.parametrize(
    "response, ok",
    [
        ("So we get \\boxed{42}.", True),
        ("nested \\boxed{\\frac{a}{\\sqrt{b}}} done", True),
        ("\\boxed 7", True),
        ("Natalia sold 48 + 24 = 72 clips.\n#### 72", True),
        ("The final answer is $18$.", True),
        ("so the answer is 12 apples", True),
        ("**Final answer:** 9", True),
        ("She has 72 clips.", False),
        ("... therefore \\boxed{\\frac{1}{", False),
        ("\\boxed{}", False),
        ("   ", False),
    ],
)
def test_format_ok_is_the_marker_requirement(response, ok):
    got, reason = format_ok(response)
    assert got is ok and (reason == "") is ok


def test_boxed_spans_balance_braces_and_report_unclosed():
    spans = boxed_spans("a \\boxed{\\frac{1}{2}} b \\fbox{x} c \\boxed{\\{1\\}} d \\boxed{3")
    assert [s.content for s in spans[:3]] == ["\\frac{1}{2}", "x", "\\{1\\}"]
    assert [s.closed for s in spans] == [True, True, True, False]


# ---------------------------------------------------------------- equivalence


@pytest.mark.parametrize(
    "reference, response",
    [
        ("1/2", "\\boxed{0.5}"),
        ("0.5", "\\boxed{\\frac{1}{2}}"),
        ("\\frac{1}{2}", "The final answer is $\\dfrac12$."),
        ("1/2", "\\boxed{\\dfrac12}"),
        ("\\dfrac12", "\\boxed{1/2}"),
        ("3", "\\boxed{3.0}"),
        ("3", "\\boxed{x=3}"),
        ("3", "\\boxed{x = 3.0}"),
        ("1000", "#### 1,000"),
        ("1,000", "\\boxed{1000}"),
        ("18", "The answer is $18."),
        ("18", "\\boxed{\\$18}"),
        ("18", "\\boxed{18 \\text{ dollars}}"),
        ("72", "Natalia sold 72 clips.\n#### 72"),
        ("-4", "\\boxed{-4}"),
        ("0.25", "\\boxed{\\frac14}"),
        ("\\sqrt{2}", "\\boxed{2^{1/2}}"),
        ("x^2+2x+1", "\\boxed{(x+1)^2}"),
        ("\\frac{\\pi}{2}", "\\boxed{\\pi/2}"),
        ("(1,2)", "\\boxed{(1, 2)}"),
    ],
)
def test_equivalent_answers_are_valid(verifier, reference, response):
    v = verdict(verifier, reference, response)
    assert v.status is Status.VALID, (v.feedback, dict(v.details))
    assert v.reward == 1.0 and "total" in v.timings


@pytest.mark.parametrize(
    "reference, response",
    [
        ("2", "\\boxed{3}"),
        ("1/3", "\\boxed{0.333}"),
        ("3", "\\boxed{3x}"),
        ("3", "\\boxed{x=4}"),
        ("1000", "#### 100"),
        ("\\sqrt{2}", "\\boxed{\\sqrt{3}}"),
        ("x^2+2x+1", "\\boxed{(x-1)^2}"),
        ("18", "\\boxed{-18}"),
        ("0.5", "\\boxed{5}"),
    ],
)
def test_different_answers_are_invalid(verifier, reference, response):
    v = verdict(verifier, reference, response)
    assert v.status is Status.INVALID, dict(v.details)
    assert v.reward == 0.0 and "incorrect" in v.feedback
    assert reference not in v.feedback or reference in response  # never leaks the reference


@pytest.mark.parametrize(
    "response, reason",
    [
        ("We have x = 2 so the result is \\boxed{1", "truncated"),
        ("Step 1: 48 / 2 = 24. Step 2: 48 + 24 =", "unfinished"),
        ("I do not know.", "no_answer"),
        ("", "empty"),
    ],
)
def test_truncated_and_answerless_responses_are_invalid(verifier, response, reason):
    v = verdict(verifier, "72", response)
    assert v.status is Status.INVALID and v.details["reason"] == reason and v.feedback


def test_binary_feedback_mode():
    with MathVerifier(MathVerifierConfig(feedback_mode="binary")) as v:
        bad, none, good = v.verify([Problem(id=str(i), domain="math", reference="5") for i in range(3)], ["\\boxed{4}", "no idea", "\\boxed{5}"])
    assert bad.feedback == none.feedback == BINARY_FEEDBACK and good.valid


def test_batch_order_and_errors(verifier):
    problems = [Problem(id="a", domain="math", reference="1"), Problem(id="b", domain="code", tests=("assert f()",)), Problem(id="c", domain="math", reference="2")]
    out = verifier.verify(problems, ["\\boxed{1}", "x", "\\boxed{3}"])
    assert [v.status for v in out] == [Status.VALID, Status.ERROR, Status.INVALID]
    with pytest.raises(ValueError):
        verifier.verify(problems, ["x"])


# ---------------------------------------------------------------- timeouts


HANGING_WORKER = "import json, sys, time\nprint(json.dumps({'ready': True}), flush=True)\nfor line in sys.stdin:\n    time.sleep(3600)\n"


def test_symbolic_timeout_kills_the_helper_and_the_next_check_works():
    checker = SymbolicChecker(timeout_s=1, command=[sys.executable, "-c", HANGING_WORKER])
    try:
        started = time.monotonic()
        res = checker.check("x", "y")
        assert res.verdict == "timeout" and not res.equal
        assert time.monotonic() - started < 10
        checker.command = [sys.executable, "-c", "import json, sys\nprint(json.dumps({'ready': True}), flush=True)\nfor l in sys.stdin:\n    print(json.dumps({'verdict': 'equal', 'reason': 'equal'}), flush=True)\n"]
        assert checker.check("x", "x").equal
    finally:
        checker.close()


def test_symbolic_timeout_becomes_a_timeout_verdict(verifier, monkeypatch):
    slow = SymbolicChecker(timeout_s=1, command=[sys.executable, "-c", HANGING_WORKER])
    monkeypatch.setattr(verifier, "_symbolic", slow)
    try:
        v = verdict(verifier, "\\sin(x)^2 + \\cos(x)^2", "\\boxed{1}")
    finally:
        slow.close()
    assert v.status is Status.TIMEOUT and v.details["reason"] == "timeout"


def test_real_math_verify_timeout_path_is_bounded(verifier):
    started = time.monotonic()
    v = verdict(verifier, "2^{2^{2^{2^{2}}}}", "\\boxed{2^{65536} + 1}")
    assert v.status in (Status.INVALID, Status.TIMEOUT)
    assert time.monotonic() - started < 30


# ---------------------------------------------------------------- config and rows


def test_config_validation_and_help():
    for f in dataclasses.fields(MathVerifierConfig):
        assert f.metadata.get("help")
    for kwargs, needle in (({"symbolic_timeout_s": 0}, "symbolic_timeout_s"), ({"feedback_mode": "x"}, "binary"), ({"feedback_cap": -1}, "feedback_cap"), ({"max_response_chars": 0}, "max_response_chars")):
        with pytest.raises(ValueError) as err:
            MathVerifierConfig(**kwargs)
        assert needle in str(err.value)


def test_problem_from_row():
    p = MathVerifier.problem_from_row({"id": "g1", "answer": "72", "question": "How many?"})
    assert (p.domain, p.reference, p.prompt) == ("math", "72", "How many?")
    assert MathVerifier.problem_from_row({"id": 3, "answer": 0.5}).reference == "0.5"
    for row, field in (({"answer": "1"}, "id"), ({"id": "a"}, "answer"), ({"id": "a", "answer": " "}, "answer"), ({"id": "a", "answer": [1]}, "answer"), ({"id": "a", "answer": True}, "answer"), ({"id": "a", "answer": "1", "prompt": 5}, "prompt")):
        with pytest.raises(RowError) as err:
            MathVerifier.problem_from_row(row)
        assert err.value.field == field
