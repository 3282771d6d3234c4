"""Bounds on number sizes, applied to the text BEFORE SymPy sees it.

A response can ask SymPy for ``10^{10^{10}}``, ``100000000!``, ``1e999999999`` or a
5,000-digit literal; evaluating any of them takes minutes or gigabytes. ``defuse``
finds such tokens with linear scans and replaces each by an inert LaTeX text
atom (``\\text{toolarge<hash>}``): it then parses to a symbol that equals only
the very same token, so a defused answer is judged wrong (or equal to an
identical reference) without ever being evaluated.

Estimated sizes are in decimal digits; ``MAX_DIGITS`` bounds every value.
"""

from __future__ import annotations

import hashlib
import math
import re

MAX_DIGITS = 100_000  # largest value (in decimal digits) a power/factorial may denote
MAX_LITERAL_DIGITS = 1_000  # longest digit run taken as a number
MAX_SCI_EXPONENT = 1_000  # 1e1000 is the largest scientific-notation literal
MAX_EXPONENT_LOG10 = 6  # any numeric exponent above 10^6 (x^{10^7}, (x+1)^{10^{10}}) is defused
MAX_FACTORIAL_LOG10 = 4.3  # (20000)! has 77,000 digits; a larger (...)! is defused
MAX_TOWER = 50  # longest brace-less tower a scan follows

_DIGITS = re.compile(r"\d+")
_SCI = re.compile(r"(?<=[\d.])[eE][+-]?(\d+)")
_FACTORIAL = re.compile(r"(\d+)[ \t]{0,5}!(?!=)")
_GROUP_FACTORIAL = re.compile(r"[)}][ \t]{0,5}!(?!=)")
_POWER = re.compile(r"\^|\*\*")
_SYMBOLIC = re.compile(r"[A-Za-z]")
_NUMERIC_COMMANDS = re.compile(r"\\(?:cdot|times|left|right)")
_INF = float("inf")


def _is_symbolic(text: str) -> bool:
    return bool(_SYMBOLIC.search(_NUMERIC_COMMANDS.sub("", text)))


def _token(span_text: str) -> str:
    digest = hashlib.sha1(span_text.encode("utf-8", "replace")).hexdigest()[:10]
    return f"\\text{{toolarge{digest}}}"


def _group_forward(text: str, i: int, limit: int = 400) -> int:
    """End of the operand starting at ``i`` (a {...}/(...) group, or a digit run); -1 if none."""
    n = len(text)
    while i < n and text[i] in " \t":
        i += 1
    if i >= n:
        return -1
    if text[i] in "{(":
        opener, closer = text[i], "}" if text[i] == "{" else ")"
        depth = 0
        for k in range(i, min(n, i + limit)):
            if text[k] == opener:
                depth += 1
            elif text[k] == closer:
                depth -= 1
                if depth == 0:
                    return k + 1
        return -1
    k = i
    while k < n and (text[k].isdigit() or text[k] == "."):
        k += 1
    return k if k > i else -1


def _group_backward(text: str, j: int, limit: int = 400) -> int:
    """Start of the operand ending just before ``j`` (a {...}/(...) group or a digit run); -1 if none."""
    k = j - 1
    while k >= 0 and text[k] in " \t":
        k -= 1
    if k < 0:
        return -1
    if text[k] in "})":
        closer, opener = text[k], "{" if text[k] == "}" else "("
        depth = 0
        for m in range(k, max(-1, k - limit), -1):
            if text[m] == closer:
                depth += 1
            elif text[m] == opener:
                depth -= 1
                if depth == 0:
                    return m
        return -1
    m = k
    while m >= 0 and (text[m].isdigit() or text[m] == "."):
        m -= 1
    return m + 1 if m < k else -1


def log10_bound(expr: str, depth: int = 0) -> float:
    """An upper bound on log10(|value|) of a purely numeric expression (inf when unknown or huge).

    Handles digits, + - * / ^ ** ! \\cdot \\times, braces and parentheses; right-associative towers.
    """
    if depth > 20:
        return _INF
    s = _NUMERIC_COMMANDS.sub(" * ", expr)
    parts = _split_power(s)
    if parts is None:
        return _INF
    if len(parts) > 1:
        base = log10_bound(parts[0], depth + 1)
        exponent_log = log10_bound("^".join(parts[1:]), depth + 1)
        if base <= 0.0:
            return 1.0
        if exponent_log > 15:
            return _INF
        return base * (10.0**exponent_log)
    total, count = 0.0, 0
    for m in _DIGITS.finditer(s):
        digits = m.group(0).lstrip("0")
        count += 1
        total += math.log10(int(digits)) if 0 < len(digits) <= 300 else len(digits)
        if m.end() < len(s) and s[m.end() :].lstrip(" \t").startswith("!"):
            n = int(digits) if digits and len(digits) < 8 else 10**8
            total += n * math.log10(max(n, 2))
    # n numbers >= 1 combined by + - * / are at most n * (their product)
    return total + (math.log10(count) if count > 1 else 0.0)


def _split_power(s: str) -> list[str] | None:
    """Split at top-level ^/** (outside braces/parens); strip one layer of outer grouping."""
    s = s.strip()
    while len(s) >= 2 and s[0] in "{(" and _matching(s) == len(s) - 1:
        s = s[1:-1].strip()
    parts, depth, last, i = [], 0, 0, 0
    while i < len(s):
        ch = s[i]
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
        elif depth == 0 and (ch == "^" or s.startswith("**", i)):
            parts.append(s[last:i])
            i += 1 if ch == "^" else 2
            last = i
            continue
        i += 1
    parts.append(s[last:])
    return parts


def _matching(s: str) -> int:
    depth = 0
    for k, ch in enumerate(s):
        if ch in "{(":
            depth += 1
        elif ch in "})":
            depth -= 1
            if depth == 0:
                return k
    return -1


def hazards(text: str) -> list[tuple[int, int]]:
    """Spans of ``text`` whose value would exceed the bounds (sorted, may overlap)."""
    spans: list[tuple[int, int]] = []
    for m in _DIGITS.finditer(text):
        if len(m.group(0)) > MAX_LITERAL_DIGITS:
            spans.append(m.span())
    for m in _SCI.finditer(text):
        exponent = m.group(1).lstrip("0")
        if len(exponent) > 4 or (exponent and int(exponent) > MAX_SCI_EXPONENT):
            start = _group_backward(text, m.start())
            spans.append((start if start >= 0 else m.start(), m.end()))
    for m in _FACTORIAL.finditer(text):
        n = m.group(1).lstrip("0")
        if len(n) > 6 or (n and int(n) * math.log10(max(int(n), 2)) > MAX_DIGITS):
            spans.append(m.span())
    for m in _GROUP_FACTORIAL.finditer(text):
        start = _group_backward(text, m.start() + 1)
        operand = text[start : m.start() + 1] if start >= 0 else ""
        if operand and not _is_symbolic(operand) and log10_bound(operand) > MAX_FACTORIAL_LOG10:
            spans.append((start, m.end()))
    covered = -1  # a tower is scanned once, from its first power sign
    for m in _POWER.finditer(text):
        if m.start() < covered:
            continue
        exp_end = _group_forward(text, m.end())
        if exp_end < 0:
            continue
        for _ in range(MAX_TOWER):  # extend a brace-less tower: 10^10^10
            nxt = _POWER.match(text, exp_end)
            further = _group_forward(text, nxt.end()) if nxt else -1
            if further < 0:
                break
            exp_end = further
        covered = exp_end
        base_start = _group_backward(text, m.start())
        exponent = text[m.end() : exp_end]
        if not _is_symbolic(exponent) and log10_bound(exponent) > MAX_EXPONENT_LOG10:
            spans.append((base_start if base_start >= 0 else m.start(), exp_end))
        elif base_start >= 0:
            operand = text[base_start:exp_end]
            if not _is_symbolic(operand) and log10_bound(operand) > MAX_DIGITS:
                spans.append((base_start, exp_end))
    return sorted(spans)


def defuse(text: str) -> tuple[str, int]:
    """``text`` with every hazardous span replaced by an inert token; (new text, number of spans)."""
    spans = hazards(text)
    if not spans:
        return text, 0
    merged: list[list[int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, last = [], 0
    for start, end in merged:
        out.append(text[last:start])
        out.append(_token(text[start:end]))
        last = end
    out.append(text[last:])
    return "".join(out), len(merged)


__all__ = ["MAX_DIGITS", "MAX_LITERAL_DIGITS", "MAX_SCI_EXPONENT", "defuse", "hazards", "log10_bound"]
