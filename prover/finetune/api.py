"""Every import of the rest of the project that ``prover.finetune`` uses, in one place.

The fine-tuning stages reuse the project's policy, prompts, verifiers, data
loaders and pass@k through their public APIs; when one of those moves, only this
module changes.
"""

from __future__ import annotations

from typing import Any, Sequence

from prover.eval.passk import pass_at_k
from prover.policy import PolicyConfig, SamplingParams, load_policy, resolve_model
from prover.replay.store import AttemptStore
from prover.prompts import binary_retry, check_repair, error_fix, first_attempt, task_text
from prover.text import clean_obj, clean_text
from prover.types import Attempt, Problem, Status, Verdict
from prover.verifiers import get_verifier
from prover.formats.code import answer_block, called_names, extract_code
from prover.formats.lean import lean_blocks
from prover.data.decontam import (NgramIndex, decontaminate, lean_type_checks, load_eval_sets, near_duplicate,
                                  statement_key)

__all__ = [
    "Attempt", "AttemptStore", "PolicyConfig", "Problem", "SamplingParams", "Status", "Verdict", "binary_retry", "called_names", "check_repair", "clean_obj", "clean_text",
    "answer_block", "error_fix", "extract_code", "first_attempt", "get_verifier", "load_problems", "load_policy", "pass_at_k",
    "resolve_model", "task_text", "lean_blocks", "NgramIndex", "decontaminate", "lean_type_checks", "load_eval_sets",
    "near_duplicate", "statement_key",
]

# Named problem sets: "<source>:<split>" -> loader.
SOURCES = ("mbpp:train", "mbpp:test", "mbpp:validation", "humaneval:test", "gsm8k:train", "gsm8k:test",
           "minif2f_core:valid", "minif2f_core:test", "core_lean:<seed>")


def load_problems(spec: str, limit: int | None = None, offset: int = 0) -> list[Problem]:
    """Problems of a named set (see ``SOURCES``) through the one data layer (``prover.data.load``);
    ``core_lean:<seed>:<level>`` draws generator problems."""
    from prover import data

    source, _, split = spec.partition(":")
    if source == "core_lean":
        from prover.data.core_lean import CoreLeanGenerator

        seed, _, level = split.partition(":")
        gen = CoreLeanGenerator(seed=int(seed or 0))
        rows = [gen.problem(int(level or 0), i) for i in range(offset + (limit or 16))]
    elif source in ("mbpp", "humaneval", "gsm8k", "minif2f_core"):
        rows = data.load(source, split or ("all" if source in ("mbpp", "minif2f_core") else ""),
                         limit=(offset + limit) if limit else 0)
    else:
        raise ValueError(f"unknown problem set {spec!r}: use one of {SOURCES}")
    rows = list(rows)[offset:]
    return rows[:limit] if limit else rows


def eval_set_texts() -> dict[str, list[str]]:
    """Texts of the evaluation sets a self-made problem must not copy (those present here)."""
    out: dict[str, list[str]] = {}
    for name, spec in (("humaneval", "humaneval:test"), ("mbpp", "mbpp:"), ("gsm8k", "gsm8k:test"),
                       ("minif2f", "minif2f_core:")):
        try:
            out[name] = [p.prompt + "\n" + p.statement for p in load_problems(spec)]
        except (FileNotFoundError, ImportError, ValueError):
            out[name] = []
    return out


def make_verifier(domain: str, *, lean_workers: int = 1, lean_timeout_s: float | None = None) -> Any:
    """The project's verifier for ``domain`` (Lean: the real checker with ``lean_workers`` workers
    and ``lean_timeout_s`` seconds per check, default the checker's own)."""
    if domain == "lean":
        from prover.verifiers.lean import LeanConfig

        extra = {"timeout_s": lean_timeout_s} if lean_timeout_s else {}
        return get_verifier("lean", LeanConfig(workers=lean_workers, **extra))
    return get_verifier(domain)


def lean_reference(problem: Problem) -> str:
    """The generator's own proof of a core-Lean problem, as a model answer."""
    from prover.data.core_lean import reference_response

    return reference_response(problem)


def verify(verifier: Any, problems: Sequence[Problem], responses: Sequence[str]) -> list[Verdict]:
    return verifier.verify(list(problems), [clean_text(r) for r in responses])
