"""Where the final answer sits in a math response: boxes, the window math-verify reads, the format check.

Nothing here decides whether an answer is right: the judgement is math-verify's
(``judge.py``, run in the killable helper process). This module only holds the
text scans that must be linear-time on hostile model text:

* ``boxed_spans``: every ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces,
  one left-to-right pass (no regular expression sees the content);
* ``answer_window``: the bounded slice of the response math-verify's own
  (backtracking) regexes are allowed to see;
* ``format_ok``: the answer-marker requirement (``\\boxed{}``, ``#### N``,
  "the answer is ...") for the **format reward** — not part of the verdict.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# math-verify's extraction regexes are quadratic on crafted text (runs of "\[",
# "\(" or spaces); it only ever sees this many characters of a response.
WINDOW_CHARS = 2000
# Boxes longer than this are not answers; they are still reported (as too long).
MAX_BOX_CHARS = 2000
TOO_LONG_BOX = "\\boxed{\\text{answertoolong}}"

_BOX_COMMANDS = ("\\boxed", "\\fbox")
_BRACE_TOKEN = re.compile(r"\\.|[{}]", re.S)  # one token per match: linear
# Linear: literal words, bounded whitespace, no nested quantifiers.
_HASH_MARK = re.compile(r"(?m)^[ \t]{0,40}####[ \t]{0,40}\S")
_ANSWER_MARK = re.compile(r"(?i)\b(?:final[ \t]{1,10}answer|answer[ \t]{1,10}is)\b[ \t:*=$]{0,20}\S")


@dataclass(frozen=True)
class BoxSpan:
    """One ``\\boxed{...}``: ``start`` of the command, ``end`` after the closing brace (-1: never closed)."""

    start: int
    end: int
    content: str

    @property
    def closed(self) -> bool:
        return self.end >= 0


def _find_commands(text: str) -> list[int]:
    found: list[int] = []
    for command in _BOX_COMMANDS:
        i = text.find(command)
        while i >= 0:
            found.append(i)
            i = text.find(command, i + len(command))
    return sorted(found)


def boxed_spans(text: str, *, max_boxes: int = 64) -> list[BoxSpan]:
    """The last ``max_boxes`` boxes of ``text``, in order (one pass per box; nested boxes are inside their parent).

    ``\\boxed 5`` (no brace) holds the next token. A box opened and never closed
    has ``end == -1`` and the rest of the text (capped) as content.
    """
    spans: list[BoxSpan] = []
    covered_until = -1
    for start in _find_commands(text):
        if start < covered_until:
            continue  # a box inside a box
        i = start + (6 if text.startswith("\\boxed", start) else 5)
        if i < len(text) and text[i].isalpha():
            continue  # \boxedsomething: another command
        j = i
        while j < len(text) and j - i < 40 and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "{":
            depth, k = 0, len(text)
            for tok in _BRACE_TOKEN.finditer(text, j):  # an escaped brace (\{) does not count
                ch = tok.group(0)
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                    if depth == 0:
                        k = tok.start()
                        break
            if k >= len(text):
                spans.append(BoxSpan(start, -1, text[j + 1 : j + 1 + MAX_BOX_CHARS + 1]))
                covered_until = len(text)
                continue
            spans.append(BoxSpan(start, k + 1, text[j + 1 : k]))
            covered_until = k + 1
        else:
            k = j
            while k < len(text) and k - j < MAX_BOX_CHARS and not text[k].isspace() and text[k] not in "$.,;":
                k += 1
            if k > j:
                spans.append(BoxSpan(start, k, text[j:k]))
                covered_until = k
    return spans[-max_boxes:]


def answer_window(text: str, spans: list[BoxSpan] | None = None) -> str:
    """The slice of ``text`` math-verify reads: at most ``WINDOW_CHARS`` characters.

    math-verify prefers the last box wherever it stands, so when the last box
    lies before the final ``WINDOW_CHARS`` characters the window starts at it;
    otherwise the window is the tail of the response. A last box longer than
    ``MAX_BOX_CHARS`` is replaced by ``TOO_LONG_BOX``.
    """
    spans = boxed_spans(text) if spans is None else spans
    if spans and spans[-1].closed and len(spans[-1].content) > MAX_BOX_CHARS:
        # a box that long is not an answer: math-verify sees that it is there, not its content
        return TOO_LONG_BOX + text[spans[-1].end : spans[-1].end + WINDOW_CHARS]
    if len(text) <= WINDOW_CHARS:
        return text
    tail_start = len(text) - WINDOW_CHARS
    if spans and spans[-1].start < tail_start:
        start = spans[-1].start
        return text[start : start + WINDOW_CHARS]
    return text[tail_start:]


def format_ok(response: str) -> tuple[bool, str]:
    """The answer-marker requirement of the **format reward** (not the verdict).

    OK when the response states its final answer with a marker: a closed,
    non-empty ``\\boxed{...}``, a ``#### N`` line, or "final answer"/"the answer
    is" followed by something. Returns (ok, reason); reason is '' when ok, else
    a short sentence for the model. Linear-time on any input.
    """
    if not isinstance(response, str) or not response.strip():
        return False, "the response is empty"
    spans = boxed_spans(response)
    if spans:
        last = spans[-1]
        if not last.closed:
            return False, "the response was cut inside \\boxed{...}"
        if not last.content.strip():
            return False, "the last \\boxed{} is empty"
        return True, ""
    if _HASH_MARK.search(response) or _ANSWER_MARK.search(response):
        return True, ""
    return False, "no final-answer marker: end with the answer in \\boxed{...}"


__all__ = ["BoxSpan", "MAX_BOX_CHARS", "TOO_LONG_BOX", "WINDOW_CHARS", "answer_window", "boxed_spans", "format_ok"]
