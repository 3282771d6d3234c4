"""The strict layer over math-verify: each rule alone (on math-verify's real parses) and through the real verifier."""

from __future__ import annotations

import pytest

from prover.types import Problem, Status
from prover.verifiers.math import MathVerifier
from prover.verifiers.math.judge import reference_text
from prover.verifiers.math.strict import alternatives_in, decimal_ok, is_single, relation_ok


def parsed(latex: str):
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    items = [x for x in parse(latex, [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]) if not isinstance(x, str)]
    assert items, latex
    return items[0]


def mv_equal(gold, pred) -> bool:
    from math_verify import verify

    return bool(verify(gold, pred))


@pytest.mark.parametrize(
    "gold, pred, ok",
    [
        ("$3$", "\\boxed{x = 3}", True),
        ("$3$", "\\boxed{x = 1 + 2 = 3}", True),
        ("$3$", "\\boxed{4 = 3}", False),
        ("$3$", "\\boxed{3 = 3}", False),
        ("$3$", "\\boxed{x = 4 = 3}", False),
        ("$x = 3$", "\\boxed{x = 3}", True),
        ("$3$", "\\boxed{3}", True),
    ],
)
def test_relation_ok(gold, pred, ok):
    assert relation_ok(parsed(gold), parsed(pred), mv_equal) is ok


@pytest.mark.parametrize(
    "gold, pred, ok",
    [
        ("$\\sqrt{2}$", "\\boxed{1.414214}", False),
        ("$\\pi$", "\\boxed{3.14159265358979}", False),
        ("$\\frac{1}{3}$", "\\boxed{0.3333333333}", False),
        ("$\\frac{1}{2}$", "\\boxed{0.5}", True),
        ("$18$", "\\boxed{18.0}", True),
        ("$1.414$", "\\boxed{1.414}", True),  # the reference is itself a decimal
        ("$\\frac{1}{8}$", "\\boxed{0.125}", True),
        ("$\\begin{pmatrix}1\\\\\\frac12\\end{pmatrix}$", "\\boxed{\\begin{pmatrix}1\\\\0.5\\end{pmatrix}}", True),
        ("$\\begin{pmatrix}1\\\\\\frac13\\end{pmatrix}$", "\\boxed{\\begin{pmatrix}1\\\\0.333333\\end{pmatrix}}", False),
    ],
)
def test_decimal_ok(gold, pred, ok):
    assert decimal_ok(parsed(gold), parsed(pred), mv_equal) is ok


def test_is_single():
    assert is_single(parsed("$3$")) and is_single(parsed("$x+1$"))
    assert not is_single(parsed("$\\{1,2\\}$")) and not is_single(parsed("$(1,2)$")) and not is_single(parsed("$\\begin{pmatrix}1\\\\2\\end{pmatrix}$"))


@pytest.mark.parametrize(
    "window, answer, found",
    [
        ("The answer is 3 or 5.", "3", True),
        ("either 3 or 5", "5", True),
        ("The answer is 5, or maybe 3.", "5", True),
        ("so 5 (or 3)", "5", True),
        ("x = 5 or x = 3", "3", True),
        ("\\boxed{3 \\text{ or } 5}", "3", True),
        ("3.5 or 3", "3", True),
        ("3 or \\frac{1}{2}", "3", True),
        ("it is 3 or more", "3", False),
        ("18 (or $18.00)", "18", False),
        ("18.0 or 18", "18", False),
        ("1,000 or 1000", "1000", False),
        ("Whether we add or multiply, the answer is 5.", "5", False),
        ("The answer is 35 or so", "3", False),
        ("The answer is 5.", "5", False),
    ],
)
def test_alternatives_in(window, answer, found):
    assert alternatives_in(window, answer) is found


@pytest.mark.parametrize(
    "reference, text",
    [("72", "72"), ("1,000", "1,000"), ("1,22", "1,22"), ("-3.5", "-3.5"), ("50%", "50%"), ("\\sqrt{2}", "$\\sqrt{2}$"), ("(1,2)", "$(1,2)$"), ("1, 2", "$1, 2$"), ("1,2,3", "$1,2,3$"), ("7 425 000", "7 425 000"), ("12,345.67", "12,345.67"), ("$x$", "$x$"), ("\\boxed{3}", "\\boxed{3}")],
)
def test_reference_text(reference, text):
    assert reference_text(reference) == text


@pytest.fixture
def verifier(math_verifier):
    return math_verifier


@pytest.mark.parametrize(
    "reference, response, reason",
    [
        ("3", "\\boxed{4 = 3}", "equation"),
        ("\\sqrt{2}", "\\boxed{1.414214}", "rounded_decimal"),
        ("3", "The answer is 3 or 5.", "alternatives"),
        ("5", "\\boxed{3} hmm actually \\boxed{5}", "several_answers"),
        ("72", "48 + 24 =", "unfinished"),
        ("72", "We have \\boxed{7", "truncated"),
        ("72", "No idea.", "no_answer"),
    ],
)
def test_refusals_name_their_rule_and_never_leak_the_reference(verifier, reference, response, reason):
    v = verifier.verify_one(Problem(id="q", domain="math", reference=reference), response)
    assert v.status is Status.INVALID and v.details["reason"] == reason
    assert v.feedback and (reference not in v.feedback or reference in response)


def test_answer_from_a_final_sentence_after_intermediate_boxes_is_judged(verifier):
    response = "Step: $2 \\cdot 100 = \\boxed{200}$. Then $\\boxed{255}$. Final Answer: The final answer is $10,455$. I hope it is correct."
    assert verifier.verify_one(Problem(id="q", domain="math", reference="10455"), response).status is Status.VALID
