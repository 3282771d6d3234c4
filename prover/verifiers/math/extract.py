"""Final-answer extraction and light normalisation for math responses.

Markers, strongest first: the last ``\\boxed{...}`` (or ``\\fbox{...}``), the last
``#### N`` (GSM8K), the last "final answer is/:" and the last "the answer is".
Optionally (off by default) the last number in the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

_BOX = re.compile(r"\\(?:boxed|fbox)\s*")
_HASH = re.compile(r"^[ \t]*####[ \t]*(?P<ans>[^\n]+)", re.M)
_FINAL = re.compile(r"final\s+answer\s*(?:is|:|=)\s*:?", re.I)
_ANSWER_IS = re.compile(r"\banswer\s+is\s*:?", re.I)
_LAST_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\s+(?:I hope|because|since|which)\b", re.I)
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_THOUSANDS = re.compile(r"^([+-]?)(\d{1,3}(?:,\d{3})+)(\.\d+)?$")
_FRAC = re.compile(r"^([+-]?)\\[dt]?frac\s*(?:\{([^{}]+)\}|(\d))\s*(?:\{([^{}]+)\}|(\d))$")
_ASSIGN = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*(?P<rhs>[^=]+)$")
_UNITS = re.compile(r"(?:\s*\\(?:text|mbox|mathrm)\{[^{}]*\}|\s+[A-Za-z]{3,}(?:\s+[A-Za-z]{3,})*)+$")


@dataclass(frozen=True)
class AnswerExtraction:
    """``answer`` is the raw final answer (None when absent); ``source`` names the marker.

    When ``answer`` is None, ``reason`` is ``empty``, ``truncated`` or ``no_answer``
    and ``message`` is feedback for the model.
    """

    answer: str | None
    source: str = ""
    reason: str = ""
    message: str = ""


def last_boxed(text: str) -> tuple[str | None, bool]:
    """(content of the last ``\\boxed{...}``, whether a box was left unclosed at the end)."""
    matches = list(_BOX.finditer(text))
    for m in reversed(matches):
        i = m.end()
        if i < len(text) and text[i] == "{":
            depth = 0
            for j in range(i, len(text)):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1 : j], False
            return None, True  # opened, never closed: the response was cut
        token = re.match(r"[^\s$.,;]+", text[i:])  # "\boxed 5"
        if token:
            return token.group(0), False
    return None, False


def _first_clause(text: str) -> str:
    text = text.strip()
    m = _SENTENCE_END.search(text)
    if m:
        text = text[: m.start()]
    return text.strip().strip("*").strip()


def extract_final_answer(response: str, *, allow_last_number: bool = False) -> AnswerExtraction:
    """The final answer of ``response`` (see the module docstring)."""
    if not response.strip():
        return AnswerExtraction(None, reason="empty", message="The response is empty; end it with the final answer in \\boxed{}.")
    boxed, unclosed = last_boxed(response)
    if unclosed:
        return AnswerExtraction(None, reason="truncated", message="The response was truncated inside \\boxed{...}; the final answer is incomplete.")
    if boxed is not None and boxed.strip():
        return AnswerExtraction(boxed.strip(), "boxed")
    found = list(_HASH.finditer(response))
    if found:
        answer = _first_clause(found[-1].group("ans"))
        if answer:
            return AnswerExtraction(answer, "hash")
    for pattern, source in ((_FINAL, "final_answer"), (_ANSWER_IS, "answer_is")):
        found = list(pattern.finditer(response))  # the last marker: "Final Answer: The final answer is 18."
        if found:
            answer = _first_clause(response[found[-1].end() :].split("\n", 1)[0])
            if answer:
                return AnswerExtraction(answer, source)
    if allow_last_number:
        numbers = _LAST_NUMBER.findall(response)
        if numbers:
            return AnswerExtraction(numbers[-1], "last_number")
    return AnswerExtraction(None, reason="no_answer", message="No final answer found; end the response with the final answer in \\boxed{}.")


def normalize_answer(answer: str) -> str:
    """Strip presentation: math delimiters, ``\\left``/``\\right``, spacing commands, dollar signs, a final period."""
    s = answer.strip()
    for _ in range(3):
        before = s
        s = s.strip()
        if len(s) >= 2 and s[0] == "$" and s[-1] == "$":
            s = s.strip("$")
        for left, right in (("\\(", "\\)"), ("\\[", "\\]")):
            if s.startswith(left) and s.endswith(right):
                s = s[len(left) : -len(right)]
        m = re.fullmatch(r"\\(?:boxed|text|mathrm|mbox)\{(.*)\}", s, re.S)
        if m:
            s = m.group(1)
        s = s.rstrip(".").strip()
        if s == before:
            break
    s = re.sub(r"\\[,!;: ]|\\left|\\right|\{,\}", "", s)
    s = s.replace("\\$", "").replace("\\%", "%").replace("$", "").replace("dfrac", "frac").replace("tfrac", "frac")
    return s.strip()


def to_number(text: str) -> Fraction | None:
    """Exact value of a plain number: ``3``, ``3.0``, ``1,000``, ``1/2``, ``\\frac{1}{2}``, ``\\frac12``, ``50%`` -> 50."""
    s = text.strip().replace(" ", "")
    s = s[:-1] if s.endswith("%") else s
    m = _THOUSANDS.match(s)
    if m:
        s = m.group(1) + m.group(2).replace(",", "") + (m.group(3) or "")
    m = _FRAC.match(s)
    if m:
        num, den = m.group(2) or m.group(3), m.group(4) or m.group(5)
        a, b = to_number(num), to_number(den)
        if a is None or b is None or b == 0:
            return None
        value = a / b
        return -value if m.group(1) == "-" else value
    if _NUMBER.match(s):
        return Fraction(s)
    parts = s.split("/")
    if len(parts) == 2 and _NUMBER.match(parts[0]) and _NUMBER.match(parts[1]):
        den = Fraction(parts[1])
        return Fraction(parts[0]) / den if den else None
    return None


def strip_for_number(answer: str) -> str:
    """For comparison with a numeric reference: ``x = 3`` -> ``3``, ``18 dollars`` -> ``18``."""
    s = answer
    m = _ASSIGN.match(s)
    if m:
        s = m.group("rhs").strip()
    stripped = _UNITS.sub("", s).strip()
    return stripped if stripped and to_number(stripped) is not None else s
