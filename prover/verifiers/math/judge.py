"""One judgement: reference + response -> a ``Judgement`` dict. Runs ONLY inside the helper process.

Steps, each under the request's deadline (math-verify's own ``signal.alarm``
timeouts, with the time left; the parent kills the helper if even that fails):

1. bound the text: ``extract.answer_window`` (math-verify's regexes never see
   more than ``WINDOW_CHARS`` characters) and ``guards.defuse`` (huge numbers
   and powers become inert tokens before anything is evaluated);
2. math-verify's own extraction (``parse`` with ``LatexExtractionConfig``, boxed
   answers first, and ``ExprExtractionConfig``) on the reference and the response;
3. math-verify's ``verify``; its timeout is reported as ``timeout``;
4. the stricter layer (``strict.py``), which can only turn "equal" into "not equal".
"""

from __future__ import annotations

import math
import re
import time
from itertools import product
from typing import Any

from prover.verifiers.math import strict
from prover.formats.math import MAX_BOX_CHARS, answer_window, boxed_spans
from prover.verifiers.math.guards import defuse

MAX_DISTINCT_BOXES = 6
# A reference that is a plain number ("1,22", "7 425 000", "-3.5", "50%") is given to math-verify as is;
# anything else without math delimiters is read as LaTeX ("\sqrt{2}", "x^2+1", "(1,2)").
_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d{1,3}(?:,\d{3}){1,8}|\d{1,3}(?: \d{3}){1,8}|\d{1,40})(?:[.,]\d{1,40})?[ \t]{0,3}%?")
_DELIMITERS = ("$", "\\(", "\\[", "\\boxed")


class _Timeout(Exception):
    pass


def _config() -> list:
    from math_verify import ExprExtractionConfig, LatexExtractionConfig

    return [LatexExtractionConfig(boxed_match_priority=0), ExprExtractionConfig()]


class _Clock:
    def __init__(self, timeout_s: float) -> None:
        self.deadline = time.monotonic() + max(0.5, float(timeout_s))

    def seconds(self) -> int:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Timeout()
        return max(1, math.ceil(left))


def _parse(text: str, clock: _Clock) -> list:
    from math_verify import parse
    from math_verify.errors import TimeoutException

    try:
        return parse(text, _config(), parsing_timeout=clock.seconds(), raise_on_error=True)
    except TimeoutException as exc:
        raise _Timeout() from exc
    except Exception:  # noqa: BLE001 - math-verify could not read it: nothing extracted
        return []


def _equal(gold: Any, pred: Any, clock: _Clock) -> bool:
    from math_verify import verify
    from math_verify.errors import TimeoutException

    try:
        return bool(verify(gold, pred, timeout_seconds=clock.seconds(), raise_on_error=True))
    except TimeoutException as exc:
        raise _Timeout() from exc
    except Exception:  # noqa: BLE001 - math-verify's own default: an error is "not equal"
        return False


def reference_text(gold: str) -> str:
    """The reference as math-verify should read it (see ``_PLAIN_NUMBER``)."""
    gold = gold.strip()
    if any(d in gold for d in _DELIMITERS) or _PLAIN_NUMBER.fullmatch(gold):
        return gold
    return f"${gold}$"


def _sympy_items(parsed: list) -> list:
    return [x for x in parsed if not isinstance(x, str)]


def _shown(parsed: list) -> str:
    texts = [x for x in parsed if isinstance(x, str)]
    return (texts[-1] if texts else str(parsed[0]) if parsed else "")[:300]


def _match(golds: list, preds: list, clock: _Clock) -> tuple[bool, bool]:
    """math-verify's any-pair rule; (equal, some pair timed out)."""
    timed_out = False
    for g, p in product(golds, preds):
        try:
            if _equal(g, p, clock):
                return True, False
        except _Timeout:
            timed_out = True
    return False, timed_out


def _strict_reason(golds: list, preds: list, clock: _Clock) -> str:
    """'' when the stricter layer accepts math-verify's "equal", else the rule that refused."""
    gold_items, pred_items = _sympy_items(golds), _sympy_items(preds)
    if not gold_items or not pred_items:
        return ""  # a string-to-string match: nothing symbolic to tighten
    gold, pred = gold_items[0], pred_items[0]

    def equal(g: Any, p: Any) -> bool:
        return _equal(g, p, clock)

    if not strict.relation_ok(gold, pred, equal):
        return "equation"
    if not strict.decimal_ok(gold, pred, equal):
        return "rounded_decimal"
    if not strict.exact_ok(gold, pred, lambda d: _bounded(lambda: d.evalf(60), clock)):
        return "approximate"
    return ""


def _bounded(fn: Any, clock: _Clock) -> Any:
    """``fn()`` under math-verify's alarm with the time left."""
    from math_verify.errors import TimeoutException
    from math_verify.utils import timeout

    try:
        return timeout(timeout_seconds=clock.seconds())(fn)()
    except TimeoutException as exc:
        raise _Timeout() from exc
    except Exception:  # noqa: BLE001 - SymPy could not decide: no refusal
        return None


def judge(gold: str, response: str, timeout_s: float) -> dict:
    """Judge ``response`` against ``gold``; see the module docstring. Never raises for bad input."""
    clock = _Clock(timeout_s)
    try:
        return _judge(gold, response, clock)
    except _Timeout:
        return {"verdict": "timeout", "reason": "timeout", "pred": ""}


def _judge(gold: str, response: str, clock: _Clock) -> dict:
    gold_text, _ = defuse(reference_text(gold))
    golds = _parse(gold_text, clock)
    if not golds:
        return {"verdict": "reference", "reason": "reference", "pred": ""}
    spans = boxed_spans(response)
    window, defused = defuse(answer_window(response, spans))
    preds = _parse(window, clock)
    if not preds:
        reason = "truncated" if spans and not spans[-1].closed else "no_answer"
        return {"verdict": "not_equal", "reason": reason, "pred": ""}
    shown = _shown(preds)
    result = {"pred": shown, "defused": defused}
    equal, timed_out = _match(golds, preds, clock)
    if not equal and not timed_out and not _sympy_items(golds):
        return {**result, "verdict": "reference", "reason": "reference"}  # math-verify could not read the reference
    if not equal:
        reason = "truncated" if spans and not spans[-1].closed else "not_equal"
        if "toolarge" in shown:
            reason = "too_large"
        elif "answertoolong" in shown:
            reason = "too_long"
        return {**result, "verdict": "timeout" if timed_out else "not_equal", "reason": "timeout" if timed_out else reason}
    reason = _strict_reason(golds, preds, clock)
    gold_items = _sympy_items(golds)
    single = not gold_items or strict.is_single(gold_items[0])
    if not reason and single and strict.several_lines(shown):
        reason = "several_answers"
    if not reason and strict.approximate(shown) and not strict.approximate(gold):
        reason = "approximate"
    if not reason and any(strict.nested_box(span.content) for span in spans if span.closed):
        reason = "nested_box"
    if not reason and response.rstrip().endswith("="):
        reason = "unfinished"
    if not reason and strict.alternatives_in(window, shown):
        reason = "alternatives"
    if not reason:
        reason = _boxes_reason(golds, spans, shown, clock)
    if reason:
        return {**result, "verdict": "not_equal", "reason": reason}
    return {**result, "verdict": "equal", "reason": "equal"}


def _boxes_reason(golds: list, spans: list, shown: str, clock: _Clock) -> str:
    """Several different boxed answers for a single reference: every one must be the answer.

    Applies when the answer math-verify chose is one of the boxes (not when it is a
    later "The final answer is ..." and the boxes were intermediate steps).
    """
    gold_items = _sympy_items(golds)
    if gold_items and not strict.is_single(gold_items[0]):
        return ""
    contents: dict[str, str] = {}  # whitespace-free key -> the box as written
    for span in spans:
        key = "".join(span.content.split())
        if span.closed and key and key not in contents:
            contents[key] = span.content
    if len(contents) < 2:
        return ""
    if len(contents) > MAX_DISTINCT_BOXES or any(len(c) > MAX_BOX_CHARS for c in contents.values()):
        return "several_answers"  # too many, or one too long to be an answer
    boxes = [_parse(defuse("\\boxed{" + content + "}")[0], clock) for content in contents.values()]
    if shown not in [_shown(preds) for preds in boxes if preds]:
        return ""  # the chosen answer is not a box
    for preds in boxes:
        if not preds or not _match(golds, preds, clock)[0] or _strict_reason(golds, preds, clock):
            return "several_answers"
    return ""


__all__ = ["MAX_DISTINCT_BOXES", "judge", "reference_text"]
