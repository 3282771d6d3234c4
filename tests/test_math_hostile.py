"""Hostile math responses: huge numbers, crafted regex worst cases, a batch of every kind (real helper, real math-verify)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from prover.types import Problem, Status
from prover.verifiers.math import MathVerifier, MathVerifierConfig
from prover.verifiers.math.guards import defuse, hazards, log10_bound

REPO = str(Path(__file__).resolve().parents[1])


@pytest.fixture
def verifier(math_verifier):
    return math_verifier


def verdict(verifier, reference, response):
    return verifier.verify_one(Problem(id="q", domain="math", reference=reference), response)


# ---------------------------------------------------------------- bounds before evaluation


@pytest.mark.parametrize(
    "text",
    ["10^{10^{10}}", "10^10^10", "10**10**10", "1e999999999", "1.5\\times 10^{999999}", "9" * 5000, "100000000!", "2^{1000000}", "x^{10^{10}}", "(x+1)^{10^{10}}", "2^{2^{2^{2^{2^{2}}}}}", "(10^6)!", "{1000000}!"],
)
def test_huge_values_are_defused(text):
    out, count = defuse(f"so \\boxed{{{text}}} done")
    assert count == 1 and "toolarge" in out and text not in out


@pytest.mark.parametrize("text", ["2^{10}", "7^{2023}", "2^{2^{3}}", "2^{2^{2^{2^{2}}}}", "e^{x^2}", "10^{-5}", "3e8", "99!", "(2+3)!", "(n+1)!", "\\frac{1}{2}^{100}", "123456789"])
def test_ordinary_values_are_left_alone(text):
    assert defuse(text) == (text, 0) and hazards(text) == []


def test_log10_bound_is_an_upper_bound():
    assert log10_bound("10^{3}") >= 3 and log10_bound("2^{2^{3}}") >= 2.4
    assert log10_bound("10^{10^{10}}") >= 1e10 and log10_bound("10^{10^{10^{10}}}") == float("inf")


def test_defused_tokens_differ_for_different_values():
    a, _ = defuse("10^{10^{10}}")
    b, _ = defuse("10^{10^{11}}")
    assert a != b


@pytest.mark.parametrize(
    "reference, response",
    [
        ("5", "\\boxed{10^{10^{10}}}"),
        ("5", "\\boxed{1e999999999}"),
        ("5", "\\boxed{" + "9" * 5000 + "}"),
        ("5", "The number is " + "1" * 5000 + "."),
        ("5", "\\boxed{100000000!}"),
        ("5", "$10^10^10$"),
        ("5", "so 10**10**10"),
    ],
)
def test_huge_answers_get_a_verdict(verifier, reference, response):
    v = verdict(verifier, reference, response)
    assert v.status is Status.INVALID, (v.status, dict(v.details))


@pytest.mark.parametrize(
    "response, reason",
    [("\\boxed{10^{10^{10}}}", "too_large"), ("\\boxed{1e999999999}", "too_large"), ("\\boxed{" + "9" * 5000 + "}", "too_long"), ("\\boxed{" + "x+" * 1500 + "1}", "too_long")],
)
def test_huge_answers_are_named_in_the_feedback(verifier, response, reason):
    v = verdict(verifier, "5", response)
    assert v.status is Status.INVALID and v.details["reason"] == reason and "too" in v.feedback


def test_a_huge_reference_is_judged_without_evaluating_it(verifier):
    assert verdict(verifier, "10^{10^{10}}", "\\boxed{10^{10^{10}}}").status is Status.VALID  # the same token
    assert verdict(verifier, "10^{10^{10}}", "\\boxed{10^{10^{11}}}").status is Status.INVALID


# ---------------------------------------------------------------- math-verify's own timeout


def test_math_verify_timeout_is_reported_as_timeout():
    with MathVerifier(MathVerifierConfig(symbolic_timeout_s=2)) as v:
        res = v.judge("\\tan(x)^{30}", "\\boxed{\\sin(x)^{30}/\\cos(x)^{30}+1}")
        assert res.verdict == "timeout" and res.error == ""  # the helper's own deadline, not a kill
        out = v.verify_one(Problem(id="t", domain="math", reference="\\tan(x)^{30}"), "\\boxed{\\sin(x)^{30}/\\cos(x)^{30}+1}")
        assert out.status is Status.TIMEOUT and out.details["reason"] == "timeout"
        assert v.verify_one(Problem(id="u", domain="math", reference="2"), "\\boxed{2}").valid


# ---------------------------------------------------------------- linear-time text scans

N = 1_000_000
CRAFTED = {
    "units": "1 " + "abc " * (N // 4) + "!",
    "final_sentence": "The final answer is " + "word " * (N // 5),
    "answer_is": "answer is " * (N // 10),
    "spaces": "1" + " " * N + "x",
    "hashes": "####" + " " * N,
    "boxes": "\\boxed{" * (N // 7),
    "nested": "\\boxed" + "{" * N,
    "brackets": "\\[" * (N // 2),
    "parens": "\\(" * (N // 2),
    "dollars": "$" * N,
    "digits_e": ("1e" * (N // 2)),
    "powers": "2^" * (N // 2),
    "factorials": "1!" * (N // 2),
    "or": " or 3" * (N // 5),
}


def test_format_ok_and_guards_are_linear_on_crafted_text():
    """Each scan run on 1M-character worst cases in a child process that must finish (a quadratic scan would not)."""
    code = (
        "import json, sys\n"
        "from prover.formats.math import format_ok, boxed_spans, answer_window\n"
        "from prover.verifiers.math.guards import defuse\n"
        "from prover.verifiers.math.strict import alternatives_in\n"
        "out = {}\n"
        "for name, text in json.load(sys.stdin).items():\n"
        "    ok, _ = format_ok(text); window = answer_window(text); defuse(window); defuse(text)\n"
        "    alternatives_in(window, '3'); out[name] = [ok, len(boxed_spans(text))]\n"
        "print(json.dumps(out))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], input=json.dumps(CRAFTED), capture_output=True, text=True, timeout=240, cwd=REPO, env={"PYTHONPATH": REPO, "PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr[-2000:]
    out = json.loads(run.stdout)
    assert set(out) == set(CRAFTED)
    assert out["final_sentence"][0] is True and out["units"][0] is False and out["nested"] == [False, 1]


def test_crafted_text_gets_a_verdict_not_a_hang(verifier):
    problems = [Problem(id=name, domain="math", reference="3") for name in CRAFTED]
    out = verifier.verify(problems, list(CRAFTED.values()))
    assert len(out) == len(CRAFTED)
    assert all(v.status in (Status.INVALID, Status.TIMEOUT) for v in out), [(p.id, v.status) for p, v in zip(problems, out)]


# ---------------------------------------------------------------- one hostile batch


def test_hostile_batch_gets_one_verdict_per_row_in_order(verifier):
    rows = [
        ("ok1", "5", "\\boxed{5}"),
        ("power", "5", "\\boxed{10^{10^{10}}}"),
        ("sci", "5", "\\boxed{1e999999999}"),
        ("digits", "5", "\\boxed{" + "9" * 5000 + "}"),
        ("fact", "5", "\\boxed{100000000!}"),
        ("surrogate", "5", "\\boxed{5\ud800}"),
        ("nul", "5", "\\boxed{5}\x00\x00"),
        ("unclosed", "5", "\\boxed{" + "x" * 100_000),
        ("deep", "5", "\\boxed" + "{" * 50_000 + "5" + "}" * 50_000),
        ("many_boxes", "5", "\\boxed{1} " * 500 + "\\boxed{5}"),
        ("brackets", "5", "\\[" * 200_000 + " 5"),
        ("too_long", "5", "5 " * 600_000),
        ("empty", "5", ""),
        ("bad_reference", "\\frac{", "\\boxed{5}"),
        ("wrong_domain", "5", "\\boxed{5}"),
        ("long_reference", "1" * 20_000, "\\boxed{5}"),
        ("huge_box", "5", "\\boxed{3} \\boxed{" + "\\[" * 100_000 + "5}"),
        ("ok2", "\\frac{1}{2}", "\\boxed{0.5}"),
    ]
    problems = [Problem(id=pid, domain="code" if pid == "wrong_domain" else "math", reference=ref) for pid, ref, _ in rows]
    out = verifier.verify(problems, [resp for _, _, resp in rows])
    assert len(out) == len(rows)
    status = {pid: v.status for (pid, _, _), v in zip(rows, out)}
    assert status["ok1"] is Status.VALID and status["ok2"] is Status.VALID
    assert status["bad_reference"] is Status.ERROR and status["wrong_domain"] is Status.ERROR and status["long_reference"] is Status.ERROR
    for pid in ("power", "sci", "digits", "fact", "unclosed", "many_boxes", "too_long", "empty", "huge_box"):
        assert status[pid] is Status.INVALID, (pid, status[pid])
    for pid in ("surrogate", "nul", "deep", "brackets"):
        assert status[pid] in (Status.VALID, Status.INVALID, Status.TIMEOUT), (pid, status[pid])
    assert out[11].details["reason"] == "too_long"
