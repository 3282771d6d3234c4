"""Feedback for the error-fix turn, Kimina-style.

Up to ``max_errors`` errors, each with its message, the goal state before it and
the offending line with ``context`` numbered lines around it (the error line
marked ``>``); then any verdict-level problems (statement changed, forbidden
axioms...). The whole text is capped; the caller learns when it was over the cap.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from prover.verifiers.base import cap_text


def code_excerpt(code: str, line: int, end_line: int | None = None, context: int = 2) -> str:
    """Numbered lines ``line-context .. end_line+context`` of ``code`` (1-based), error lines marked."""
    lines = code.splitlines() or [""]
    end_line = max(line, end_line or line)
    lo = max(1, line - context)
    hi = min(len(lines), end_line + context)
    width = len(str(hi))
    out = []
    for i in range(lo, hi + 1):
        mark = ">" if line <= i <= end_line else " "
        out.append(f"{mark} {i:>{width}} | {lines[i - 1]}")
    return "\n".join(out)


def format_error(code: str, msg: Mapping[str, Any], index: int, context: int) -> str:
    line = int(msg.get("line", 1))
    col = int(msg.get("col", 0))
    # Show the start line and at most two more lines of a multi-line error range.
    end_line = min(int(msg.get("end_line", line) or line), line + 2)
    parts = [f"Error {index} at line {line}, column {col + 1}:", str(msg.get("text", "")).strip()]
    goals = str(msg.get("goals", "") or "").strip("\n")
    if goals:
        parts += ["Goal state before the error:", goals]
    parts += ["Code:", code_excerpt(code, line, end_line, context)]
    return "\n".join(parts)


def build_feedback(
    code: str,
    messages: Sequence[Mapping[str, Any]],
    problems: Sequence[str] = (),
    *,
    max_errors: int = 3,
    context: int = 2,
    cap: int = 3000,
) -> tuple[str, bool]:
    """The feedback text and whether the uncapped text exceeded ``cap``."""
    errors = [m for m in messages if m.get("severity") == "error"]
    blocks = [format_error(code, m, i + 1, context) for i, m in enumerate(errors[:max_errors])]
    if len(errors) > max_errors:
        blocks.append(f"({len(errors) - max_errors} more error(s) not shown.)")
    blocks.extend(problems)
    if not blocks:
        return "", False
    head = "Lean 4 rejected the proof." if errors else "The proof was not accepted."
    return cap_text("\n\n".join([head, *blocks]), cap)
