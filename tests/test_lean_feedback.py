"""Kimina-style feedback: errors with goals and numbered context, capped."""

from prover.verifiers.lean.feedback import build_feedback, code_excerpt

CODE = "\n".join(f"line{i}" for i in range(1, 11))


def test_excerpt_marks_error_line_with_two_lines_context():
    text = code_excerpt(CODE, 5, context=2)
    assert text.splitlines() == ["  3 | line3", "  4 | line4", "> 5 | line5", "  6 | line6", "  7 | line7"]


def test_excerpt_clamps_at_file_edges():
    assert code_excerpt(CODE, 1, context=2).splitlines()[0] == "> 1 | line1"
    assert code_excerpt(CODE, 10, context=2).splitlines()[-1] == "> 10 | line10"


def _err(line, text="boom", goals="⊢ False"):
    return {"severity": "error", "line": line, "col": 2, "end_line": line, "end_col": 5, "text": text, "goals": goals}


def test_at_most_three_errors_with_goals():
    msgs = [_err(i, f"error number {i}") for i in range(1, 6)] + [
        {"severity": "warning", "line": 1, "col": 0, "text": "unused variable"}]
    text, over = build_feedback(CODE, msgs, max_errors=3, cap=10_000)
    assert not over
    assert "Error 1 at line 1, column 3" in text and "Error 3 at line 3" in text and "Error 4" not in text
    assert "2 more error(s) not shown" in text
    assert "Goal state before the error:\n⊢ False" in text
    assert "unused variable" not in text


def test_problems_without_errors():
    text, over = build_feedback(CODE, [], ["The proof uses `sorry`."], cap=3000)
    assert text.startswith("The proof was not accepted.") and "sorry" in text and not over


def test_cap_is_enforced_and_flagged():
    msgs = [_err(2, "x" * 5000)]
    text, over = build_feedback(CODE, msgs, cap=500)
    assert over and len(text) <= 500 and text.endswith("[feedback truncated]")


def test_empty_when_nothing_to_say():
    assert build_feedback(CODE, []) == ("", False)
