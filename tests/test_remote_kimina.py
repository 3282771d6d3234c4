"""lean.backend: kimina — the file it sends, its refusals, and how it reads kimina-lean-server's answers.

No kimina-lean-server runs here, so answers are written in its JSON shape by hand; tests/test_serve_lean.py
reads real Lean answers through a loopback stand-in.
"""

from __future__ import annotations

import socket

import pytest

from prover.types import Problem, Status
from prover.verifiers.kimina import KiminaConfig, KiminaVerifier, build_file, judge, kimina_refused
from prover.verifiers.lean.policy import ProofPolicy

ADD = "theorem add_comm' (a b : Nat) : a + b = b + a := by"
PROBLEM = Problem(id="p", domain="lean", statement=ADD, header="import Mathlib\nopen Nat")
CODE = ADD + "\n  omega"
CFG = KiminaConfig()
POLICY = ProofPolicy()


def layout():
    return build_file(PROBLEM, CODE, "n0nce")


def msg(line: int, data: str, severity: str = "info", col: int = 0) -> dict:
    return {"severity": severity, "pos": {"line": line, "column": col}, "endPos": {"line": line, "column": col + 3}, "data": data}


def answer(*messages: dict, error: str | None = None) -> dict:
    return {"custom_id": "x", "error": error, "response": None if error else {"env": 0, "messages": list(messages), "time": 0.5}}


def body_line(lay, file_line: int) -> int:
    return file_line - lay.header_lines


def audit(lay, axioms: str = "[propext]", nonce: str = "n0nce") -> dict:
    return msg(body_line(lay, lay.audit_line), f"'prover_chk_{nonce}' depends on axioms: {axioms}")


def test_file_layout():
    text, lay = layout()
    lines = text.splitlines()
    assert lines[0] == "import Mathlib" and lay.header_lines == 1
    assert lines[lay.ref_start - 1] == "theorem prover_ref_n0nce (a b : Nat) : a + b = b + a := by sorry"
    assert lines[lay.code_start - 1] == ADD
    assert lines[lay.chk_line - 1] == "theorem prover_chk_n0nce : type_of% @prover_ref_n0nce := @add_comm'"
    assert lines[lay.audit_line - 1] == "#print axioms prover_chk_n0nce"
    assert lay.rest_start < lay.ref_start < lay.code_start < lay.chk_line


def test_valid_needs_the_nonce_bound_axiom_report():
    _, lay = layout()
    ref_sorry = msg(body_line(lay, lay.ref_start), "declaration uses 'sorry'", "warning")
    v = judge(answer(ref_sorry, audit(lay)), lay, POLICY, CFG, "full")
    assert v.status is Status.VALID and v.details["axioms"] == ["propext"]
    none = msg(body_line(lay, lay.audit_line), "'prover_chk_n0nce' does not depend on any axioms")
    assert judge(answer(none), lay, POLICY, CFG, "full").status is Status.VALID
    # a report the model could print (without the nonce) does not count
    forged = msg(body_line(lay, lay.code_start), "'prover_chk_other' depends on axioms: [propext]")
    v = judge(answer(forged), lay, POLICY, CFG, "full")
    assert v.status is Status.ERROR and v.details["reason"] == "audit_missing"
    assert judge(answer(), lay, POLICY, CFG, "full").status is Status.ERROR


def test_file_relative_line_numbers_are_recognised():
    _, lay = layout()
    err = msg(lay.code_start + 1, "unsolved goals", "error", 2)
    a = msg(lay.audit_line, "'prover_chk_n0nce' depends on axioms: [propext]")
    v = judge(answer(err, a), lay, POLICY, CFG, "full")
    assert v.status is Status.INVALID
    assert v.details["messages"][0]["line"] == 3  # `open Nat`, the theorem line, then the error line
    assert "line 3" in v.feedback and "omega" in v.feedback


@pytest.mark.parametrize("axioms, status, needle", [
    ("[propext, sorryAx]", Status.INVALID, "sorry"),
    ("[propext, cheat]", Status.INVALID, "cheat"),
    ("[Classical.choice, Quot.sound, propext]", Status.VALID, ""),
])
def test_axiom_policy(axioms, status, needle):
    _, lay = layout()
    v = judge(answer(audit(lay, axioms)), lay, POLICY, CFG, "full")
    assert v.status is status and needle in v.feedback


def test_errors_sorry_and_statement_mismatch():
    _, lay = layout()
    err = msg(body_line(lay, lay.code_start + 1), "linarith failed", "error", 2)
    v = judge(answer(err, audit(lay)), lay, POLICY, CFG, "full")
    assert v.status is Status.INVALID and "linarith failed" in v.feedback
    sorry = msg(body_line(lay, lay.code_start), "declaration uses 'sorry'", "warning")
    assert "sorry" in judge(answer(sorry, audit(lay)), lay, POLICY, CFG, "full").feedback
    mismatch = msg(body_line(lay, lay.chk_line), "type mismatch\n  @add_comm'\nhas type ...", "error")
    v = judge(answer(mismatch, audit(lay)), lay, POLICY, CFG, "full")
    assert v.status is Status.INVALID and "stated differently" in v.feedback
    missing = msg(body_line(lay, lay.chk_line), "unknown identifier 'add_comm''", "error")
    assert "not declared" in judge(answer(missing, audit(lay)), lay, POLICY, CFG, "full").feedback
    ref = msg(body_line(lay, lay.ref_start), "unknown constant 'Foo'", "error")
    assert judge(answer(ref, audit(lay)), lay, POLICY, CFG, "full").status is Status.ERROR


def test_timeouts_and_server_errors():
    _, lay = layout()
    assert judge(answer(error="Lean REPL command timed out in 60 seconds"), lay, POLICY, CFG, "full").status is Status.TIMEOUT
    v = judge(answer(error="No available REPLs"), lay, POLICY, CFG, "full")
    assert v.status is Status.ERROR and "No available REPLs" in v.feedback


@pytest.mark.parametrize("code, refused", [
    ("@[command_elab Lean.Parser.Command.printAxioms] def f : Nat := 1", True),
    ("attribute [macro Lean.Parser.Term.app] foo", True),
    ("@[simp, tactic foo] theorem x : True := trivial", True),
    ("namespace Foo\ntheorem t : True := trivial", True),
    ("variable (h : False)", True),
    ("section\n", True),
    ("set_option pp.all true in\ntheorem t : True := trivial", True),
    ("#exit", True),
    ("@[simp] theorem h : 1 = 1 := rfl\nset_option maxHeartbeats 400000 in\ntheorem t : True := trivial", False),
    ("theorem t (x_end : Nat) : x_end = x_end := rfl -- end\n/- namespace -/", False),
    ("attribute [local simp] Nat.add_comm", False),
])
def test_kimina_only_refusals(code, refused):
    assert (kimina_refused(code) is not None) is refused


def test_unreachable_server_gives_error_verdicts_and_refusals_never_leave():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    url = f"http://127.0.0.1:{s.getsockname()[1]}"
    s.close()
    with KiminaVerifier(KiminaConfig(urls=(url,), retries=1, backoff_s=0.05, max_wait_s=20)) as k:
        responses = [f"```lean4\n{CODE}\n```", "```lean4\n#eval 1\n" + CODE + "\n```", "no block", "```lean4\nnamespace X\n" + CODE + "\n```"]
        got = k.verify([PROBLEM] * 4, responses)
    assert got[0].status is Status.ERROR and "unavailable" in got[0].feedback
    assert [v.status for v in got[1:]] == [Status.INVALID] * 3
    assert got[1].details["refused"] and got[3].details["refused"]


def test_config_checks():
    with pytest.raises(ValueError, match="http"):
        KiminaConfig(urls=("localhost:8000",))
    assert "Lean.ofReduceBool" in KiminaConfig(allow_native_decide=True).allowed_axioms


def test_a_failing_axiom_report_is_an_error_not_a_verdict_on_the_proof():
    _, lay = layout()
    broken = msg(body_line(lay, lay.audit_line), "(kernel) unknown declaration", "error")
    v = judge(answer(broken), lay, POLICY, CFG, "full")
    assert v.status is Status.ERROR and "unknown declaration" in v.feedback
    model_err = msg(body_line(lay, lay.code_start + 1), "omega could not prove the goal", "error")
    assert judge(answer(model_err, broken), lay, POLICY, CFG, "full").status is Status.INVALID
