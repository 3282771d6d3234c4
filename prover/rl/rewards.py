"""Rewards: verifier verdict x format reward, then the replay core's risk-aware shaping.

Format (``FormatOptions``):

* Lean: exactly one ```lean4 block (``max_blocks``), closed, and nothing but
  whitespace after it (``nothing_after_block``);
* code: the final fenced block is ```python, closed, at most ``max_blocks`` of them,
  nothing after it;
* math: a non-empty ``\\boxed{...}`` answer;
* every domain: the repeated-line filter (one non-blank line more than
  ``max_line_repeats`` times -> format reward 0), the usual sign of a degenerate loop.

``total_reward`` returns ``None`` for an infrastructure error: TRL then leaves
that completion out of its group's baseline and gives it zero advantage.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from prover.replay.shaping import shaped_reward
from prover.rl.config import FormatOptions
from prover.types import Sample, Status, Verdict

BLOCK_LANGUAGE = {"lean": "lean4", "code": "python"}
# Possessive quantifiers: linear on any model text (tests/test_regex_linear.py).
_FENCE = re.compile(r"^[ \t]*+```[ \t]*+([A-Za-z0-9_+-]*+)[ \t]*+$")
_BOXED = re.compile(r"\\boxed\s*+\{")

FORMAT_HINT = {
    "no_block": "no final ```{lang} block",
    "unclosed_block": "the final ```{lang} block is not closed (the response was cut off?)",
    "wrong_language": "the final code block is not a ```{lang} block",
    "too_many_blocks": "more than {max_blocks} ```{lang} blocks",
    "text_after_block": "text after the final ```{lang} block",
    "repeated_lines": "the same line repeated more than {max_line_repeats} times",
    "no_boxed": "no \\boxed{{...}} answer",
}


@dataclass(frozen=True)
class FormatResult:
    ok: bool
    reason: str = ""  # one of FORMAT_HINT's keys when not ok

    @property
    def score(self) -> float:
        return 1.0 if self.ok else 0.0


OK = FormatResult(True)


@dataclass(frozen=True)
class Block:
    language: str
    start: int  # line index of the opening fence
    end: int | None  # line index of the closing fence (None: never closed)


def fenced_blocks(text: str) -> list[Block]:
    """Fenced blocks in order (an opening fence names a language or none; the next fence closes it)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        j = i + 1
        while j < len(lines) and not lines[j].lstrip().startswith("```"):
            j += 1
        blocks.append(Block(m.group(1).lower(), i, j if j < len(lines) else None))
        i = j + 1
    return blocks


def repeated_line(text: str, max_repeats: int, min_chars: int) -> str | None:
    """The first line (stripped, >= ``min_chars``) occurring more than ``max_repeats`` times, or None."""
    if max_repeats <= 0:
        return None
    counts = Counter(s for s in (line.strip() for line in text.splitlines()) if len(s) >= min_chars)
    for line, n in counts.most_common(1):
        if n > max_repeats:
            return line
    return None


def _block_format(text: str, lang: str, opts: FormatOptions) -> FormatResult:
    blocks = fenced_blocks(text)
    if not blocks:
        return FormatResult(False, "no_block")
    last = blocks[-1]
    if last.end is None:
        return FormatResult(False, "unclosed_block")
    if last.language != lang:
        return FormatResult(False, "wrong_language")
    same = [b for b in blocks if b.language in (lang, "lean")] if lang == "lean4" else \
        [b for b in blocks if b.language == lang]
    if opts.max_blocks and len(same) > opts.max_blocks:
        return FormatResult(False, "too_many_blocks")
    if opts.nothing_after_block and "\n".join(text.splitlines()[last.end + 1:]).strip():
        return FormatResult(False, "text_after_block")
    return OK


def _boxed_answer(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` (balanced braces), or None."""
    found = None
    for m in _BOXED.finditer(text):
        depth, i = 1, m.end()
        while i < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        if depth == 0:
            found = text[m.end():i - 1]
    return found


def format_check(domain: str, text: str, opts: FormatOptions) -> FormatResult:
    """Is ``text`` a well-formed answer for ``domain``? (Always ok when the format reward is off.)"""
    if not opts.enabled:
        return OK
    if domain in BLOCK_LANGUAGE:
        result = _block_format(text, BLOCK_LANGUAGE[domain], opts)
    else:
        answer = _boxed_answer(text)
        result = OK if answer is not None and answer.strip() else FormatResult(False, "no_boxed")
    if result.ok and repeated_line(text, opts.max_line_repeats, opts.min_line_chars) is not None:
        return FormatResult(False, "repeated_lines")
    return result


def format_message(domain: str, result: FormatResult, opts: FormatOptions) -> str:
    """Feedback text for a format failure (used when a verified-correct answer is badly formatted)."""
    lang = BLOCK_LANGUAGE.get(domain, "")
    what = FORMAT_HINT.get(result.reason, result.reason).format(lang=lang, max_blocks=opts.max_blocks,
                                                               max_line_repeats=opts.max_line_repeats)
    if domain == "lean":
        want = "exactly one final ```lean4 block with the complete theorem and proof, and nothing after it"
    elif domain == "code":
        want = "the complete function in one final ```python block, and nothing after it"
    else:
        want = "the final answer within \\boxed{}"
    return f"The answer is correct but badly formatted ({what}). Write {want}."


def effective_verdict(domain: str, verdict: Verdict, fmt: FormatResult, opts: FormatOptions) -> Verdict:
    """The verdict the trainer acts on: a correct but badly formatted answer counts as a failure
    (with feedback saying what is wrong), so the replay core can turn it into a fix turn."""
    if fmt.ok or not verdict.valid:
        return verdict
    details: dict[str, Any] = {**dict(verdict.details), "format": fmt.reason, "verifier_status": verdict.status.value}
    return dataclasses.replace(verdict, status=Status.INVALID, reward=0.0,
                               feedback=format_message(domain, fmt, opts), feedback_over_cap=False, details=details)


def total_reward(sample: Sample, verdict: Verdict, fmt: FormatResult, penalty: float) -> float | None:
    """Verdict reward x format reward, then risk-aware shaping; None for infrastructure errors."""
    if verdict.status is Status.ERROR:
        return None
    scored = dataclasses.replace(verdict, reward=verdict.reward * fmt.score,
                                 status=verdict.status if fmt.ok else
                                 (Status.INVALID if verdict.valid else verdict.status))
    return shaped_reward(sample, scored, penalty)


def solved(verdict: Verdict, fmt: FormatResult) -> bool:
    return verdict.valid and fmt.ok


__all__ = [
    "Block",
    "FormatResult",
    "effective_verdict",
    "fenced_blocks",
    "format_check",
    "format_message",
    "repeated_line",
    "solved",
    "total_reward",
]
