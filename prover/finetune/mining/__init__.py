"""Self-made problems per domain for self-mining (``prover.finetune.selfmine``).

``base``: the shared proposal layout and filter pass; ``code``, ``math``, ``lean``: each
domain's proposal format, parser and degenerate-problem checks on the real verifiers.
``make_proposer`` builds the one a run's domain needs.
"""

from __future__ import annotations

from typing import Any, Sequence

from prover.finetune.mining.base import COMMON_FILTERS, Proposer

DOMAINS = ("code", "math", "lean")


def make_proposer(domain: str, verifier: Any, *, min_chars: int, ngram: int = 8, contamination: float = 0.5,
                  max_answer_chars: int = 32, trivial_tactics: Sequence[str] = ("rfl", "decide", "simp"),
                  max_lean_pairs: int = 64) -> Proposer:
    """The proposer of ``domain``, checking with ``verifier`` (the run's verifier of that domain).

    Code and math decontaminate by word n-grams against HumanEval, MBPP, GSM8K test and
    MiniF2F texts; Lean by normalised statement against MiniF2F and MiniF2F-core, and by
    elaborated type against MiniF2F-core. Math also starts the code sandbox (owned, closed by
    ``Proposer.close``) to run the proposed programs.
    """
    from prover.finetune.api import NgramIndex, eval_set_texts, make_verifier

    if domain == "code":
        from prover.finetune.mining.code import CodeProposer

        return CodeProposer(verifier, min_chars=min_chars, index=NgramIndex(eval_set_texts(), ngram),
                            contamination=contamination)
    if domain == "math":
        from prover.finetune.mining.math import MathProposer

        return MathProposer(verifier, make_verifier("code"), max_answer_chars=max_answer_chars, min_chars=min_chars,
                            index=NgramIndex(eval_set_texts(), ngram), contamination=contamination)
    if domain == "lean":
        from prover.finetune.api import load_eval_sets
        from prover.finetune.mining.lean import LeanProposer

        sets: dict[str, list[Any]] = {}
        for name in ("minif2f", "minif2f_core"):
            try:
                sets.update(load_eval_sets((name,)))
            except (FileNotFoundError, ImportError, ValueError):
                sets[name] = []
        return LeanProposer(verifier, eval_statements=sets["minif2f"] + sets["minif2f_core"],
                            lean_eval=sets["minif2f_core"], trivial_tactics=trivial_tactics,
                            max_lean_pairs=max_lean_pairs, min_chars=min_chars)
    raise ValueError(f"self-mining domain {domain!r}: use one of {DOMAINS}")


__all__ = ["COMMON_FILTERS", "DOMAINS", "Proposer", "make_proposer"]
