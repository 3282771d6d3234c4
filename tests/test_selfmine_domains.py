"""Self-mining's math and Lean proposals without the model: parsing, the reference from a program's
output, and the filters (math ones on the real code sandbox and the real math verifier)."""

from __future__ import annotations

import pytest

from prover.data.decontam import NgramIndex
from prover.finetune.api import eval_set_texts, load_problems, make_verifier
from prover.finetune.mining import make_proposer
from prover.finetune.mining.base import COMMON_FILTERS
from prover.finetune.mining.lean import CORE_HEADER, LeanProposer, parse_proposal as parse_lean, parse_statement
from prover.finetune.mining.math import (EXAMPLE, MathProposer, answer_from_output, parse_proposal as parse_math,
                                         program_problem)
from prover.finetune.selfmine import SelfMineConfig


# -- math ---------------------------------------------------------------------------------------
def test_answer_is_last_printed_line_and_degenerate_outputs_are_named():
    assert answer_from_output("step 1\n\n  42 \n", 12, 32) == ("42", "")
    assert answer_from_output("", 0, 32) == ("", "program_silent")
    assert answer_from_output("  \n\n", 3, 32) == ("", "program_silent")
    assert answer_from_output("1" * 40 + "\n", 41, 32) == ("", "answer_unreadable")
    assert answer_from_output("12\n", 5000, 32) == ("", "answer_unreadable")  # the sandbox cut the output


def test_math_proposal_keeps_question_and_the_whole_program():
    program = ("def cost(n):\n    total = 0\n\n    for i in range(n):\n        total += 3\n    return total\n\n"
               "print(cost(4) + 2)")
    text = f"Problem: Tom buys 4 pens at $3 each and a $2 notebook. How much does he pay?\n\n```python\n{program}\n```\nDone."
    p = parse_math(text, "m/0", 2)
    assert p is not None and p.domain == "math" and p.reference == ""
    assert p.prompt == "Tom buys 4 pens at $3 each and a $2 notebook. How much does he pay?"
    assert p.meta["program"] == program and p.meta["level"] == 2
    job, response = program_problem(p)
    assert job.domain == "code" and program in response
    assert parse_math("Problem: no program here", "m/1", 1) is None
    assert parse_math("```python\nprint(1)\n```", "m/2", 1) is None  # no question


@pytest.fixture(scope="module")
def math_proposer():
    proposer = MathProposer(make_verifier("math"), make_verifier("code"), min_chars=20,
                            index=NgramIndex(eval_set_texts(), 8), max_answer_chars=32)
    yield proposer
    proposer.verifier.close()
    proposer.close()


def _math(pid: str, question: str, program: str):
    return parse_math(f"Problem: {question}\n\n```python\n{program}\n```", pid, 1)


def test_math_degenerate_checks_run_the_program_in_the_sandbox(math_proposer):
    q = "A farmer has 7 cows and buys 15 more cows. How many cows does the farmer have now?"
    cases = {
        "good": _math("good", q, "cows = 7\ncows += 15\nprint(cows)"),
        "guarded": _math("guarded", q, "def main():\n    print(7 + 15)\n\nif __name__ == '__main__':\n    main()"),
        "raises": _math("raises", q, "print(1 / 0)"),
        "silent": _math("silent", q, "cows = 7 + 15"),
        "zero": _math("zero", q, "left = 0\nprint(left)"),
        "long": _math("long", q, "print('x' * 100)"),
        "loops": _math("loops", q, "while True:\n    pass"),
        "network": _math("network", q, "import socket\ns = socket.create_connection(('1.1.1.1', 80), timeout=2)\nprint(5)"),
    }
    got = {p.id: (why, p) for why, p in math_proposer.degenerate(list(cases.values()))}
    assert got["good"][0] == "" and got["good"][1].reference == "22"
    assert got["guarded"][0] == "" and got["guarded"][1].reference == "22"
    assert got["raises"][0] == "program_fails" and got["loops"][0] == "program_fails"
    assert got["network"][0] == "program_fails"  # no network in the sandbox
    assert got["silent"][0] == "program_silent"
    assert got["zero"][0] == "stub_passes"
    assert got["long"][0] == "answer_unreadable"


def test_math_filter_counts_each_drop(math_proposer):
    gsm = load_problems("gsm8k:test", 1)[0]
    counts = {f: 0 for f in math_proposer.filters}
    seen = math_proposer.seen_start()
    parsed = [
        None,
        _math("short", "2+2?", "print(4)"),
        parse_math(EXAMPLE, "copy", 1),  # the format example shown in the prompt
        _math("gsm", gsm.prompt, "print(18)"),  # an evaluation problem
        _math("ok", "A shelf holds 9 books on each of its 4 rows. How many books does the shelf hold?", "print(9 * 4)"),
        _math("dup", "A shelf holds 9 books on each of its 4 rows. How many books does the shelf hold?", "print(36)"),
        _math("bad", "A train travels 60 miles each hour for 3 hours. How far does it go in miles?", "print(x)"),
    ]
    kept = math_proposer.filter(parsed, seen, counts)
    assert [p.id for p in kept] == ["ok"] and kept[0].reference == "36"
    assert counts == {"unparseable": 1, "too_short": 1, "duplicate": 2, "contaminated": 1, "program_fails": 1,
                      "program_silent": 0, "answer_unreadable": 0, "stub_passes": 0}
    assert tuple(counts)[:4] == COMMON_FILTERS


# -- Lean ---------------------------------------------------------------------------------------
def test_lean_statement_parsing():
    text = "Here:\n```lean4\ntheorem Nat.my_add (a b : Nat) (h : a ≤ b) :\n    a + 1 ≤ b + 1 := by\n  sorry\n```\n"
    assert parse_statement(text) == ("theorem sm_my_add (a b : Nat) (h : a ≤ b) :\n    a + 1 ≤ b + 1 := by", "Nat.my_add")
    p = parse_lean(text, "l/0", 3)
    assert p.domain == "lean" and p.header == CORE_HEADER and p.statement.startswith("theorem sm_my_add")
    assert p.meta["level"] == 3 and p.meta["proposed_name"] == "Nat.my_add"
    assert parse_statement("lemma foo : 1 = 1 := rfl")[0] == "theorem sm_foo : 1 = 1 := by"
    assert parse_statement("no theorem here") is None
    assert parse_statement("theorem foo : 1 = 1") is None  # no :=
    assert parse_statement("theorem foo : (sorry : Prop) := by trivial") is None
    assert parse_statement("theorem foo : True\n#eval IO.println 1\ntheorem bar : True := by") is None
    assert parse_statement("theorem «odd name» : True := by") is None
    for hostile in ("(n : Nat) : n = n) #eval IO.println 1", "(n : Nat) : n = n) axiom bad : False",
                    "(n : Nat) : @[simp] n = n", "(n : Nat) : n = n) set_option maxHeartbeats 0 in",
                    "(n : Nat) : n = n) open Lean in"):
        assert parse_statement(f"theorem t {hostile} := by") is None, hostile
    assert parse_statement("theorem arr : #[1, 2].size = 2 := by")[0] == "theorem sm_arr : #[1, 2].size = 2 := by"


def test_lean_text_filters_count_duplicates_contamination_and_short():
    core = load_problems("minif2f_core:test", 1)[0]
    proposer = make_proposer("lean", verifier=None, min_chars=10)
    assert isinstance(proposer, LeanProposer) and proposer.filters[4:] == ("does_not_elaborate", "trivial")
    stolen = core.statement.replace(core.statement.split()[1], "stolen", 1)
    parsed = [parse_lean(f"```lean4\n{s}\n  sorry\n```", f"l/{i}", 1) for i, s in enumerate([
        "theorem a (x y : Nat) : x + y = y + x := by",
        "theorem b (m n : Nat) : m + n = n + m := by",  # the same statement up to bound names
        "theorem c : 1 = 1 := by",  # too short once normalised
        stolen,  # a MiniF2F-core statement under another name
    ])]
    counts = {f: 0 for f in proposer.filters}
    proposer.degenerate = lambda ps: [("", p) for p in ps]  # the Lean checks are tested on the real Lean (slow)
    kept = proposer.filter(parsed, proposer.seen_start(), counts)
    assert [p.id for p in kept] == ["l/0"]
    assert counts["duplicate"] == 1 and counts["too_short"] == 1 and counts["contaminated"] == 1


def test_selfmine_config_per_domain_defaults_and_errors():
    assert SelfMineConfig(domain="math").eval_set == "gsm8k:test"
    assert SelfMineConfig(domain="lean").eval_set == "minif2f_core:test"
    assert SelfMineConfig().eval_set == "mbpp:test"
    with pytest.raises(ValueError, match="domain='chess'"):
        SelfMineConfig(domain="chess")
    with pytest.raises(ValueError, match="lean_timeout_s"):
        SelfMineConfig(domain="lean", lean_timeout_s=0)


def test_math_complete_answer_reaches_the_verifier(math_proposer):
    """The reference is the program's whole output line and the judge reads the whole final answer."""
    q = "A warehouse ships 1234 boxes a day for 1000 days and then 567 more boxes. How many boxes is that?"
    frac = "A pie is cut into 4 equal slices and Ann eats 3 of them. What fraction of the pie did she eat?"
    [(w1, big), (w2, part)] = math_proposer.degenerate([
        _math("big", q, "print(1234 * 1000 + 567)"),
        _math("frac", frac, "from fractions import Fraction\nprint(Fraction(3, 4))")])
    assert (w1, big.reference, w2, part.reference) == ("", "1234567", "", "3/4")
    reasoning = "Let me think step by step.\n" + "We add the boxes of one more day. " * 60
    got = [v.status.value for v in math_proposer.verifier.verify(
        [big, big, big, part, part],
        [reasoning + "\\boxed{1234567}", reasoning + "\\boxed{1234}", "The answer is \\boxed{1234567", "\\boxed{3/4}",
         "\\boxed{3}"])]
    assert got == ["valid", "invalid", "invalid", "valid", "invalid"]
