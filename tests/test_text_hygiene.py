"""Text hygiene at every sink: model text and feedback with lone surrogates (and other
hostile text) reach files, SQLite, JSON and child processes as valid UTF-8."""

from __future__ import annotations

import json

import pytest

from prover.replay import AttemptStore
from prover.text import clean_obj, clean_text
from prover.types import Attempt, Problem, Status, Verdict
from prover.verifiers.code import CodeVerifier, CodeVerifierConfig

LONE = "\ud800"
BAD_TEXT = f"bad {LONE} text \udfff end \x00 nul"


def test_clean_text_replaces_lone_surrogates_and_keeps_pairs():
    assert clean_text(BAD_TEXT) == "bad \ufffd text \ufffd end \x00 nul"
    assert clean_text("\ud83d\ude00") == "\U0001F600"  # a pair json.loads may leave
    assert clean_text("ok \u2200") == "ok \u2200"
    assert clean_obj({"a": [LONE, ("x", LONE)], LONE: 1}) == {"a": ["\ufffd", ("x", "\ufffd")], "\ufffd": 1}


@pytest.fixture(scope="module")
def verifier():
    v = CodeVerifier(CodeVerifierConfig(timeout_s=5.0, workers=1))
    yield v
    v.close()


PROBLEM = Problem(id="hyg", domain="code", prompt="Write f.", tests=("assert f(1) == 2",), entry_point="f")


def _writable(verdict: Verdict) -> str:
    """The verdict as a UTF-8 JSON line, the way `prover verify` writes it (raises if it cannot)."""
    return (json.dumps(verdict.to_json(), ensure_ascii=False) + "\n").encode("utf-8").decode("utf-8")


@pytest.mark.parametrize(
    "code, reason",
    [
        ("def f(x):\n    raise ValueError('\\ud800 boom \\udfff')", "exception"),
        ("raise RuntimeError('\\ud800 at import')\ndef f(x):\n    return x", "load_error"),
        ("def f(x):\n    import sys\n    sys.stdout.write('\\ud800')\n    return 0", "exception"),
        ("def f(x):\n    import os\n    os.write(1, b'\\xff\\xed\\xa0\\x80 raw')\n    return 0", "assertion"),
        ("def f(x):\n    return '\\ud800' * 3", "assertion"),
        ("def f(x):\n    raise SystemExit('\\ud800')", "exit"),
    ],
    ids=["exception-message", "load-error", "print-surrogate", "raw-stdout-bytes", "returned-value", "exit-code"],
)
def test_candidate_surrogates_give_a_normal_writable_verdict(verifier, code, reason):
    (v,) = verifier.verify([PROBLEM], ["```python\n" + code + "\n```"])
    assert v.status is Status.INVALID and v.details["reason"] == reason, (v.feedback, dict(v.details))
    line = _writable(v)
    assert LONE not in line
    if "boom" in code or "at import" in code:  # the message itself held the surrogates
        assert "\ufffd" in v.feedback


def test_a_response_holding_lone_surrogates_is_verified(verifier):
    response = f"Here {LONE}:\n```python\ndef f(x):\n    s = '{LONE}'\n    return x + 1\n```"
    (v,) = verifier.verify([PROBLEM], [response])
    assert v.status is Status.VALID, v.feedback
    _writable(v)


def test_replay_store_takes_surrogates_everywhere(tmp_path):
    problem = Problem(id=f"p{LONE}", domain="code", prompt=f"Write {LONE}", tests=("assert f(1) == 2",), entry_point="f")
    attempt = Attempt(problem_id=problem.id, prompt=({"role": "user", "content": f"x{LONE}"},),
                      response=f"resp {LONE}", turn="first", id=f"a{LONE}")
    verdict = Verdict(Status.INVALID, 0.0, feedback=f"fb {LONE}", details={"message": LONE}, timings={"total": 0.1})
    with AttemptStore(tmp_path / "r.sqlite") as store:
        res = store.add(problem, attempt, verdict)
        assert res.failures == 1
        (got,) = store.get_many(list(res.ids))
        assert got.attempt.response == "resp \ufffd" and got.verdict.feedback == "fb \ufffd"
        assert got.problem.prompt == "Write \ufffd" and got.verdict.details["message"] == "\ufffd"
        assert got.attempt.prompt[0]["content"] == "x\ufffd"
        assert store.get(f"a{LONE}") is not None  # lookups clean their arguments the same way
        store.mark_used([f"a{LONE}"])
        assert store.get("a\ufffd").uses == 1
        assert f"p{LONE}" not in store.problem_stats() and "p\ufffd" in store.problem_stats()
        assert store.integrity_ok()


def test_row_text_with_lone_surrogates_reaches_the_sandbox_clean(verifier):
    # a raw lone surrogate in the tests themselves (e.g. from a JSON input row): the job sent
    # to the sandbox is cleaned, so the test source compiles there
    problem = Problem(id="row", domain="code", prompt=f"Write f {LONE}.", tests=(f"assert f('{LONE}') == 1",), entry_point="f")
    (v,) = verifier.verify([problem], ["```python\ndef f(s):\n    return len(s)\n```"])
    assert v.status is Status.VALID, (v.feedback, dict(v.details))
