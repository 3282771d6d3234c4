"""Extraction of Lean code from model text: the complete answer, never a truncated half."""

import pytest

from prover.formats.lean import extract_proof, last_lean_block, split_header, theorem_name

STMT = "theorem add_comm' (a b : Nat) : a + b = b + a := by"


def test_theorem_name():
    assert theorem_name(STMT) == "add_comm'"
    assert theorem_name("theorem mathd_algebra_10 : abs ((120 : ℝ) / 100 * 30 - 130) = 94 := by") == "mathd_algebra_10"
    with pytest.raises(ValueError):
        theorem_name("example : 1 = 1 := by")


def test_last_block_wins_and_lean_alias():
    text = "first\n```lean4\ntheorem x : 1 = 1 := rfl\n```\nthen\n```lean\nomega\n```\ndone"
    assert last_lean_block(text) == ("omega", False)


def test_prose_after_block_is_ignored():
    text = f"Here:\n```lean4\n{STMT}\n  omega\n```\nThis works because omega decides linear arithmetic."
    ext = extract_proof(text, STMT)
    assert ext.kind == "full" and ext.code.endswith("omega")


def test_truncated_block_is_rejected():
    text = f"```lean4\n{STMT}\n  induction a with\n  | zero => simp\n  | succ"
    ext = extract_proof(text, STMT)
    assert ext.code is None and ext.kind == "truncated"
    assert "cut off" in ext.reason


def test_truncated_last_block_after_complete_one_is_still_rejected():
    # An earlier complete block must not stand in for a cut-off final answer.
    text = f"```lean4\n{STMT}\n  sorry\n```\nBetter:\n```lean4\n{STMT}\n  omeg"
    assert extract_proof(text, STMT).kind == "truncated"


def test_no_block():
    ext = extract_proof("The answer is obvious by commutativity.", STMT)
    assert ext.code is None and ext.kind == "none"


def test_other_language_blocks_are_not_lean():
    ext = extract_proof("```python\nprint(1)\n```", STMT)
    assert ext.kind == "none"


def test_body_continues_statement_and_is_indented():
    ext = extract_proof("```lean4\nomega\n```", STMT)
    assert ext.kind == "body"
    assert ext.code == STMT + "\n  omega"


def test_body_with_leading_by_is_not_doubled():
    ext = extract_proof("```lean4\nby\n  simp [Nat.add_comm]\n```", STMT)
    assert ext.code == STMT + "\n  simp [Nat.add_comm]"


def test_term_mode_statement():
    stmt = "theorem t (p : Prop) : p ∨ ¬p :="
    ext = extract_proof("```lean4\nClassical.em p\n```", stmt)
    assert ext.code == stmt + "\n  Classical.em p"


def test_helpers_before_theorem_are_kept():
    text = f"```lean4\ntheorem helper (n : Nat) : n + 0 = n := rfl\n\n{STMT}\n  omega\n```"
    ext = extract_proof(text, STMT)
    assert ext.kind == "full" and "helper" in ext.code


def test_echoed_header_imports_are_dropped_but_others_kept():
    header_imports = "import Mathlib\nimport Aesop"
    text = f"```lean4\nimport Mathlib\nimport Aesop\nimport Evil\n{STMT}\n  omega\n```"
    ext = extract_proof(text, STMT, header_imports)
    assert "import Mathlib" not in ext.code and "import Evil" in ext.code


def test_fence_inside_string_does_not_end_block_early_when_not_at_line_start():
    text = f'```lean4\n{STMT}\n  have h : "```" = "```" := rfl\n  omega\n```'
    ext = extract_proof(text, STMT)
    assert ext.code is not None and ext.code.endswith("omega")


def test_split_header():
    imports, rest = split_header("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\nopen Nat Real\n")
    assert imports == "import Mathlib\nimport Aesop"
    assert rest == "set_option maxHeartbeats 400000\n\nopen Nat Real"
