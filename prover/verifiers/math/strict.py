"""The stricter layer on top of math-verify, for RL rewards (runs in the helper process).

math-verify is built for evaluation and forgives on purpose; for a reward that a
policy will optimise against, some of that forgiveness is an exploit. Each rule
here can only turn math-verify's "equal" into "not equal", never the reverse:

* ``relation_ok``: an equation answers a plain reference only as ``name = value``
  (``x = 3``, ``f(2) = 3``), and every member of a chain must equal the reference:
  ``\\boxed{4 = 3}`` and ``x = 4 = 3`` are not answers 3;
* ``decimal_ok``: a decimal matches an exact reference (``\\sqrt{2}``, ``\\pi``,
  ``1/3``) only if it is exactly that value (``0.5`` for ``1/2``), unless the
  reference itself is a decimal: ``1.414214`` is not ``\\sqrt{2}``;
* ``exact_ok``: two exact constants must be exactly equal (``\\pi + 10^{-30}`` is not ``\\pi``);
* ``approximate``: ``3 \\approx 3.1`` (a number said to approximate another) is not an answer 3;
* ``alternatives_in``: "3 or 5" is not an answer 3 (an answer must be single);
* ``nested_box``: ``\\boxed{\\boxed{3}4}`` is not an answer 3;
* several boxed answers (checked by ``judge``): every box must be the answer.

Matrices, vectors, tuples, sets and intervals are compared element-wise by
math-verify itself (after parsing with ``\\\\`` row breaks intact), so no rule is
needed for them here; tests pin that behaviour.
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any, Callable

_OR_WORD = r"(?:or|\\text\{[ \t]{0,3}or[ \t]{0,3}\}|\\mathrm\{[ \t]{0,3}or[ \t]{0,3}\}|\\lor|\\vee)"
# Bounded, anchored patterns applied to <= 60-character slices only.
_OR_AFTER = re.compile(
    r"^[ \t$)\]}(]{0,6}(?:\\(?:text|mathrm|mbox)\{[ \t(]{0,3})?(?:,[ \t]{0,3})?" + _OR_WORD
    + r"(?![A-Za-z])[ \t]{0,5}(?:[A-Za-z]{1,12}[ \t]{0,3}=?[ \t]{0,3}){0,2}\$?[ \t]{0,3}(?P<alt>-?\d[\d,.]{0,30}(?![\d,.])|[-\d\\(\[{])"
)
_OR_BEFORE = re.compile(
    r"(?:^|[^A-Za-z\\\d.,])(?:(?P<alt>-?\d[\d,.]{0,30})[ \t$)\]}(]{0,6})?"
    + _OR_WORD + r"[ \t$]{0,6}(?:[A-Za-z]{1,12}[ \t]{0,3}=[ \t]{0,3}\$?)?$"
)


def _same_number(a: str, b: str) -> bool:
    """``18`` and ``18.00`` (a restatement, not an alternative)."""
    try:
        return Fraction(a.replace(",", "").rstrip(".")) == Fraction(b.replace(",", "").rstrip("."))
    except (ValueError, ZeroDivisionError):
        return False


def _alternative(match: re.Match | None, answer: str) -> bool:
    if match is None:
        return False
    alt = match.group("alt")
    return not (alt and alt[-1:].isdigit() and _same_number(alt, answer))


def _is_relation(expr: Any) -> bool:
    from sympy import And, Eq

    return isinstance(expr, Eq) or (isinstance(expr, And) and all(isinstance(a, Eq) for a in expr.args))


def _is_collection(expr: Any) -> bool:
    from sympy import MatrixBase, Set, Tuple

    return isinstance(expr, (Set, Tuple, MatrixBase))


def relation_ok(gold: Any, pred: Any, equal: Callable[[Any, Any], bool]) -> bool:
    """``pred`` an equation and ``gold`` not: the left side names something, every right side equals ``gold``."""
    from sympy import And

    if not _is_relation(pred) or _is_relation(gold):
        return True
    relations = list(getattr(pred, "_unsorted_args", pred.args)) if isinstance(pred, And) else [pred]
    lhs = relations[0].lhs
    if not getattr(lhs, "free_symbols", None):
        return False  # 4 = 3: a number on the left names nothing
    sides = [r.rhs for r in relations] + [r.lhs for r in relations[1:]]
    return all(equal(gold, side) for side in sides)


def decimal_ok(gold: Any, pred: Any, equal: Callable[[Any, Any], bool]) -> bool:
    """A decimal in ``pred`` against an exact ``gold`` must be exactly equal (its decimal expansion taken as exact)."""
    from sympy import Float, Rational

    try:
        gold_floats = gold.atoms(Float)
        pred_floats = pred.atoms(Float)
    except (AttributeError, TypeError):
        return True
    if gold_floats or not pred_floats:
        return True
    exact = pred.xreplace({f: Rational(str(f)) for f in pred_floats})
    return equal(gold, exact)


def exact_ok(gold: Any, pred: Any, evaluate: Callable[[Any], Any]) -> bool:
    """Two exact numeric constants must be exactly equal: math-verify's chopped ``evalf`` takes
    ``\\sqrt{2} + 10^{-20}`` for ``\\sqrt{2}``. ``evaluate(d)`` gives ``d.evalf(60)`` (bounded); a
    difference it shows to be nonzero (a Float with real precision) refuses the match."""
    from sympy import Expr, Float

    if not isinstance(gold, Expr) or not isinstance(pred, Expr):
        return True
    if not gold.is_number or not pred.is_number or gold.atoms(Float) or pred.atoms(Float):
        return True
    value = evaluate(gold - pred)
    nonzero = isinstance(value, Float) and value._prec > 16 and value != 0
    return not nonzero


_PLAIN_NUMBER = re.compile(r"[-+]?\d{1,40}(?:\.\d{1,40})?")
_APPROX = ("\\approx", "\\sim", "\\simeq", "\\thickapprox", "\u2248")


def approximate(answer: str) -> bool:
    """Is the answer a number said to be approximately something (``3 \\approx 3.1``)?

    math-verify keeps the left side of ``\\approx``; a plain number there is a claim about
    another value, like ``4 = 3``. (``x \\approx 11`` and ``x = 1/3 \\approx 0.3`` stay math-verify's call.)
    """
    cuts = [answer.find(mark) for mark in _APPROX if mark in answer]
    if not cuts:
        return False
    return bool(_PLAIN_NUMBER.fullmatch(answer[: min(cuts)].strip()))


def nested_box(content: str) -> bool:
    """Does a box hold another box plus something else (``\\boxed{\\boxed{3}4}``)?"""
    from prover.formats.math import boxed_spans

    if "\\boxed" not in content and "\\fbox" not in content:
        return False
    inner = boxed_spans(content)
    return len(inner) != 1 or not inner[0].closed or content.strip() != content[inner[0].start : inner[0].end].strip()


def several_lines(answer: str) -> bool:
    """Does the extracted answer hold ``\\\\`` line breaks outside an environment (``3 \\\\ 5``)?"""
    return "\\\\" in answer and "\\begin" not in answer


def is_single(gold: Any) -> bool:
    """Does the reference ask for one value (not a set, tuple, interval or matrix)?"""
    return not _is_collection(gold)


def alternatives_in(window: str, answer: str) -> bool:
    """Does ``answer`` (math-verify's extracted text) stand in ``window`` as one side of "A or B"?"""
    answer = answer.strip()
    if not answer or len(answer) > 200:
        return False
    i = window.find(answer)
    seen = 0
    while i >= 0 and seen < 200:
        seen += 1
        j = i + len(answer)
        tail = window[j : j + 2]
        whole = (i == 0 or not window[i - 1].isalnum()) and not (tail[:1].isdigit() or (tail[:1] in ".," and tail[1:].isdigit()))
        after = _OR_AFTER.search(window[j : j + 60])
        before = _OR_BEFORE.search(window[max(0, i - 60) : i])
        if whole and (_alternative(after, answer) or _alternative(before, answer)):
            return True
        i = window.find(answer, i + 1)
    return False


__all__ = ["alternatives_in", "approximate", "several_lines", "decimal_ok", "exact_ok", "is_single", "nested_box", "relation_ok"]
