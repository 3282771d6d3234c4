"""Response size: a documented cap gives a clear ``too_long`` verdict; anything under it runs."""

from __future__ import annotations

import pytest

from prover.types import Problem, Status
from prover.verifiers.code import CodeVerifier, CodeVerifierConfig

PROBLEM = Problem(id="big", domain="code", prompt="Write f.", tests=("assert f(1) == 2", "assert f(41) == 42"), entry_point="f")


@pytest.fixture(scope="module")
def verifier():
    v = CodeVerifier(CodeVerifierConfig(timeout_s=20.0, workers=1))
    yield v
    v.close()


def with_comments(n_bytes: int, filler: str = "# padding padding padding padding\n") -> str:
    pad = filler * (n_bytes // len(filler.encode()) + 1)
    return "```python\ndef f(x):\n    return x + 1\n" + pad + "```"


def test_a_correct_function_with_comments_under_the_cap_passes(verifier):
    cap = verifier.config.max_response_bytes
    v = verifier.verify_one(PROBLEM, with_comments(cap - 4096))
    assert v.status is Status.VALID, (v.feedback, dict(v.details))


def test_non_ascii_comments_under_the_cap_pass(verifier):
    # 2-byte UTF-8 characters; escaped JSON would be 6 bytes each on the way to the sandbox
    cap = verifier.config.max_response_bytes
    v = verifier.verify_one(PROBLEM, with_comments(cap - 4096, "# \u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\u00e9\n"))
    assert v.status is Status.VALID, (v.feedback, dict(v.details))


def test_more_than_32_mb_of_comments_is_a_clear_length_verdict(verifier):
    v = verifier.verify_one(PROBLEM, with_comments(33 * 1024 * 1024))
    assert v.status is Status.INVALID
    assert v.details["reason"] == "too_long"
    assert "too long" in v.feedback and str(verifier.config.max_response_bytes) in v.feedback
    assert "connection" not in v.feedback


@pytest.mark.slow
def test_a_raised_cap_lets_a_larger_program_run():
    with CodeVerifier(CodeVerifierConfig(timeout_s=30.0, workers=1, max_response_bytes=40 << 20, memory_mb=1024)) as v:
        verdict = v.verify_one(PROBLEM, with_comments(33 * 1024 * 1024))
    assert verdict.status is Status.VALID, (verdict.feedback, dict(verdict.details))


def test_cap_config_is_checked():
    with pytest.raises(ValueError, match="max_response_bytes"):
        CodeVerifierConfig(max_response_bytes=10)


@pytest.mark.timeout(120)
def test_a_crafted_plain_response_at_the_cap_is_judged_without_40_reparses(verifier):
    # statements then many prose lines each followed by an unclosed bracket: every prose cut
    # would re-parse the whole program; above MAX_PROSE_STRIP_CHARS stripping is skipped
    cap = verifier.config.max_response_bytes
    head = "def f(x):\n    return x + 1\n"
    prose = "".join(f"This is prose line number {i} here\n    z = (\n" for i in range(45))
    body = "y = 1\n" * ((cap - len(head) - len(prose) - 64) // 6)
    v = verifier.verify_one(PROBLEM, head + body + prose)
    assert v.status is Status.INVALID and v.details["reason"] == "truncated", (v.feedback[:300], dict(v.details))
