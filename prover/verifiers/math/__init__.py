"""Math verifier: the final answer of a response against ``Problem.reference``.

The judgement is math-verify's (its own LaTeX/expression extraction with boxed
answers first, then its ``verify``), plus a stricter layer for RL (``strict.py``),
all of it in a killable helper process under a deadline (``equivalence.py``).
``format_ok`` is the answer-marker requirement for the *format reward*; it is not
part of the verdict. See docs/math_verifier.md.
"""

from prover.formats.math import answer_window, boxed_spans, format_ok
from prover.verifiers.math.verifier import BINARY_FEEDBACK, MathVerifier, MathVerifierConfig

__all__ = ["BINARY_FEEDBACK", "MathVerifier", "MathVerifierConfig", "answer_window", "boxed_spans", "format_ok"]
