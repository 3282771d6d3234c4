"""Format reward: a multiplier on the verifier's reward, never a second opinion on validity.

What the answer *is* comes from the domain's format module (``prover.formats``),
the same code the verifier extracts with, so training and evaluation read the
same block of every response:

* Lean: the last ```lean4/```lean block (``formats.lean.lean_blocks``); no
  block or an unclosed one -> format 0 (the verifier rejects it too);
* code: the block ``formats.code.answer_block`` picks (the verifier runs it);
* math: a final-answer marker (a closed, non-empty ``\\boxed{...}``, a
  ``#### N`` line, or "the answer is ...": ``formats.math.format_ok``); the
  verdict itself finds the answer without one (math-verify).

On top of that come *style* rules (``FormatOptions``), each switchable: at most
``max_blocks`` answer blocks, nothing but whitespace after the answer block,
code in a closed fence (``require_block``), and the repeated-line filter (one
non-blank line more than ``max_line_repeats`` times, the usual sign of a
degenerate loop). With every style rule off, the format score is 1 exactly when
the verifier finds an answer to check.

The reward itself (verdict x format, then risk-aware shaping) is computed once,
by ``prover.replay.shaping.shaped_reward``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from prover.formats import code as code_format
from prover.formats import lean as lean_format
from prover.formats.math import format_ok as math_format_ok
from prover.rl.config import FormatOptions
from prover.types import Problem, Verdict

ANSWER_FENCE = {"lean": lean_format.FENCE_LANGUAGES[0], "code": "python"}

FORMAT_HINT = {
    "no_block": "no final ```{lang} block",
    "unclosed_block": "the final ```{lang} block is not closed (the response was cut off?)",
    "too_many_blocks": "more than {max_blocks} ```{lang} blocks",
    "text_after_block": "text after the final ```{lang} block",
    "repeated_lines": "the same line repeated more than {max_line_repeats} times",
    "no_answer_marker": "no final-answer marker (\\boxed{{...}}, '#### N' or 'the answer is ...')",
}


@dataclass(frozen=True)
class FormatResult:
    ok: bool
    reason: str = ""  # one of FORMAT_HINT's keys when not ok

    @property
    def score(self) -> float:
        return 1.0 if self.ok else 0.0


OK = FormatResult(True)


def repeated_line(text: str, max_repeats: int, min_chars: int) -> str | None:
    """The first line (stripped, >= ``min_chars``) occurring more than ``max_repeats`` times, or None."""
    if max_repeats <= 0:
        return None
    counts = Counter(s for s in (line.strip() for line in text.splitlines()) if len(s) >= min_chars)
    for line, n in counts.most_common(1):
        if n > max_repeats:
            return line
    return None


def _after(lines: list[str], end: int) -> bool:
    return bool("\n".join(lines[end + 1:]).strip())


def lean_format_check(text: str, opts: FormatOptions) -> FormatResult:
    blocks = lean_format.lean_blocks(text)
    if not blocks:
        return FormatResult(False, "no_block")
    last = blocks[-1]
    if last.end is None:
        return FormatResult(False, "unclosed_block")
    if opts.max_blocks and len(blocks) > opts.max_blocks:
        return FormatResult(False, "too_many_blocks")
    if opts.nothing_after_block and _after(text.splitlines(), last.end):
        return FormatResult(False, "text_after_block")
    return OK


def code_entry_point(problem: Problem) -> str:
    """The function the answer block should define (MBPP: the first one the tests call)."""
    return problem.entry_point or next(code_format.called_names(problem.tests), "")


def code_format_check(text: str, entry_point: str, opts: FormatOptions) -> FormatResult:
    text = text.replace("\r\n", "\n")
    chosen = code_format.answer_block(text, entry_point)
    if chosen is None:
        return FormatResult(False, "no_block") if opts.require_block else OK
    if not chosen.closed and opts.require_block:
        return FormatResult(False, "unclosed_block")
    if opts.max_blocks and len(code_format.python_blocks(text)) > opts.max_blocks:
        return FormatResult(False, "too_many_blocks")
    if opts.nothing_after_block and chosen.closed:
        lines = text.split("\n")
        end = chosen.line + 1 + len(chosen.code.split("\n")) - (1 if chosen.code.endswith("\n") else 0)
        if _after(lines, end):
            return FormatResult(False, "text_after_block")
    return OK


def math_format(text: str) -> FormatResult:
    """The math answer format: a final-answer marker (``prover.formats.math.format_ok``)."""
    ok, _ = math_format_ok(text)
    return OK if ok else FormatResult(False, "no_answer_marker")


def format_check(problem: Problem, text: str, opts: FormatOptions) -> FormatResult:
    """Is ``text`` a well-formed answer to ``problem``? (Always ok when the format reward is off.)"""
    if not opts.enabled:
        return OK
    if problem.domain == "lean":
        result = lean_format_check(text, opts)
    elif problem.domain == "code":
        result = code_format_check(text, code_entry_point(problem), opts)
    else:
        result = math_format(text)
    if result.ok and repeated_line(text, opts.max_line_repeats, opts.min_line_chars) is not None:
        return FormatResult(False, "repeated_lines")
    return result


def format_message(domain: str, result: FormatResult, opts: FormatOptions) -> str:
    """Feedback text for a format failure."""
    lang = ANSWER_FENCE.get(domain, "")
    what = FORMAT_HINT.get(result.reason, result.reason).format(lang=lang, max_blocks=opts.max_blocks,
                                                               max_line_repeats=opts.max_line_repeats)
    if domain == "lean":
        want = f"exactly one final ```{lang} block with the complete theorem and proof, and nothing after it"
    elif domain == "code":
        want = "the complete function in one final ```python block, and nothing after it"
    else:
        want = "the final answer within \\boxed{}"
    return f"The answer is badly formatted ({what}). Write {want}."


def solved(verdict: Verdict, fmt: FormatResult) -> bool:
    """Valid and well-formatted: what training counts as a solved sample."""
    return verdict.valid and fmt.ok


__all__ = [
    "ANSWER_FENCE",
    "FormatResult",
    "code_format_check",
    "format_check",
    "format_message",
    "lean_format_check",
    "math_format",
    "repeated_line",
    "solved",
]
