"""kimina-shaped routes of `prover serve`: how snippets become checks and verdicts become kimina answers (no Lean)."""

from __future__ import annotations

import pytest

from prover.serve.kimina import backward_result, kimina_result, split_imports, statement_end, task_from_snippet
from prover.serve.models import KiminaCheckRequest, KiminaSnippet, KiminaVerifyRequest
from prover.types import Status, Verdict
from prover.verifiers.lean.policy import ProofPolicy

POLICY = ProofPolicy()
FILE = """import Mathlib
import Aesop

open Nat

theorem helper (x : Nat) : x + 0 = x := by simp

/-- the target -/
theorem target (a b : Nat) (h : a = b := by rfl) : a + 0 = b := by
  simp [helper, h]
"""


def test_self_statement_snippet():
    t = task_from_snippet(KiminaSnippet(id="s", code=FILE), POLICY)
    assert t.problem is not None and t.error == "" and t.verdict is None
    assert t.problem.statement.startswith("theorem target") and t.problem.statement.endswith("a + 0 = b := by")
    assert t.problem.header.splitlines()[:2] == ["import Mathlib", "import Aesop"]
    assert "theorem helper" in t.problem.header
    assert t.response.startswith("```lean4\ntheorem target")
    assert t.target_line == 6  # body lines: open, blank, helper, blank, doc, target
    # checker line -> body line: header rest keeps its lines, the target's lines shift to their body place
    assert t.body_line(1) == 1 and t.body_line(t.split + 1) == 6


def test_statement_end_skips_comments_strings_and_brackets():
    assert statement_end("theorem t (x : Nat := 3) : x = x := rfl") == len("theorem t (x : Nat := 3) : x = x :=")
    assert statement_end("theorem t : \"a:=b\" = \"a:=b\" -- := \n := rfl") > 20
    assert statement_end("theorem t /- := -/ : True") == -1


@pytest.mark.parametrize("code, what", [
    ("#eval 1\ntheorem t : True := trivial", "refused"),
    ("import Mathlib\ndef f := 1", "error"),
    ("theorem t : True", "error"),
])
def test_snippets_answered_before_lean(code, what):
    t = task_from_snippet(KiminaSnippet(id="s", code=code), POLICY)
    if what == "refused":
        assert t.verdict is not None and t.verdict.status is Status.INVALID and "#eval" in t.verdict.feedback
    else:
        assert t.problem is None and t.error


def test_bound_snippet_uses_the_given_statement():
    t = task_from_snippet(KiminaSnippet(id="b", code="omega", formal_statement="theorem t (a : Nat) : a = a := by",
                                        header="open Nat"), POLICY)
    assert t.problem.statement == "theorem t (a : Nat) : a = a := by" and t.problem.header == "open Nat"
    assert t.response == "```lean4\nomega\n```"
    bad = task_from_snippet(KiminaSnippet(id="b", code="x", formal_statement="theorem t : True"), POLICY)
    assert bad.problem is None and "formal_statement" in bad.error


def test_verdicts_read_as_failures_by_kimina_clients():
    t = task_from_snippet(KiminaSnippet(id="s", code=FILE), POLICY)
    valid = Verdict(Status.VALID, 1.0, details={"messages": [{"severity": "info", "line": 1, "col": 0, "text": "hi"}]},
                    timings={"total": 0.2})
    out = kimina_result(t, valid, 60)
    assert "error" not in out and out["response"]["messages"][0]["data"] == "hi" and out["time"] == 0.2
    axioms = Verdict(Status.INVALID, 0.0, feedback="depends on axioms beyond ...: cheat", details={"messages": []})
    out = kimina_result(t, axioms, 60)
    (m,) = out["response"]["messages"]
    assert m["severity"] == "error" and "cheat" in m["data"] and m["pos"]["line"] == 6
    assert kimina_result(t, Verdict(Status.TIMEOUT, 0.0), 60)["error"] == "Lean REPL command timed out in 60 seconds"
    err = kimina_result(t, Verdict.infra_error("pool broken"), 60)
    assert err["error"] == "pool broken" and "response" not in err
    back = backward_result(kimina_result(t, valid, 60))
    assert back["custom_id"] == "s" and back["error"] is None and back["response"]["time"] == 0.2


def test_request_models():
    assert len(KiminaCheckRequest(snippets=[{"id": "a", "code": "x"}, {"id": "b", "code": "y"}]).items()) == 2
    assert KiminaCheckRequest(snippet={"id": "a", "code": "x"}, unknown=1).items()[0].id == "a"
    for bad in ({}, {"snippets": []}, {"snippets": [{"id": "a", "code": "x"}] * 2},
                {"snippet": {"id": "a", "code": "x"}, "snippets": [{"id": "b", "code": "x"}]}):
        with pytest.raises(ValueError):
            KiminaCheckRequest(**bad)
    req = KiminaVerifyRequest(codes=[{"custom_id": 7, "code": "c"}, {"custom_id": "p", "proof": "q"}])
    assert [c.snippet().code for c in req.codes] == ["c", "q"] and req.codes[0].snippet().id == "7"
    with pytest.raises(ValueError):
        KiminaVerifyRequest(codes=[{"custom_id": 1}])
    assert split_imports("\nimport A\n\nimport B\ndef x := 1\n\nimport C") == (["import A", "import B"], ["def x := 1", "", "import C"])
