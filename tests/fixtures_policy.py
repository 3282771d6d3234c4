"""Shared helpers for the policy/prompts/replay tests (imported by them; not a conftest).

* ``policy``: the real embedded SmolLM2-135M through ``TransformersPolicy``, loaded
  once per test process (converted once into the model cache).
* ``LeanBlockRule``: a small real verifier for unit tests only: a response passes
  when its last ```lean4 block restates the exact theorem statement and has a
  proof without ``sorry``. The round test with the real Lean checker uses the
  ``lean_verifier`` fixture from tests/conftest.py instead.
"""

from __future__ import annotations

import functools
import os
from typing import Any, Mapping, Sequence

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from prover.policy import PolicyConfig  # noqa: E402
from prover.formats.lean import last_lean_block  # noqa: E402
from prover.prompts import lean_formal  # noqa: E402
from prover.types import Problem, Status, Verdict  # noqa: E402
from prover.verifiers.base import Verifier, cap_text  # noqa: E402

# Core Lean 4 statements (no Mathlib) the round tests try.
CORE_LEAN = (
    Problem(id="add_zero", domain="lean", statement="theorem add_zero' (n : Nat) : n + 0 = n := by"),
    Problem(id="add_comm", domain="lean", statement="theorem add_comm' (a b : Nat) : a + b = b + a := by"),
    Problem(id="two_mul", domain="lean", statement="theorem two_mul' (n : Nat) : 2 * n = n + n := by"),
    Problem(id="pow_small", domain="lean", statement="theorem pow_small : 3 ^ 3 = 27 := by"),
)


@functools.lru_cache(maxsize=1)
def get_policy() -> Any:
    """One thread: on this shared 2-core machine it is several times faster than two."""
    from prover.policy.hf import TransformersPolicy

    return TransformersPolicy(PolicyConfig(device="cpu", batch_size=8, cpu_threads=1))


@pytest.fixture(scope="session")
def policy() -> Any:
    return get_policy()


class LeanBlockRule(Verifier):
    """Stand-in verifier (a real, simple rule; no Lean): see the module docstring."""

    domain = "lean"

    def __init__(self, feedback_cap: int = 2000) -> None:
        self.feedback_cap = feedback_cap

    def _check(self, problem: Problem, response: str) -> tuple[bool, str]:
        block, _ = last_lean_block(response)
        if block is None:
            return False, "error: no ```lean4 code block found in the response"
        statement = lean_formal(problem).strip()
        if statement not in block:
            return False, f"error: the code block does not restate the theorem exactly:\n{statement}"
        proof = block.split(statement, 1)[1].strip()
        if not proof:
            return False, "error: unsolved goals (the proof is empty)"
        if "sorry" in proof or "admit" in proof:
            return False, "error: declaration uses 'sorry'"
        return True, ""

    def verify(self, problems: Sequence[Problem], responses: Sequence[str], *, progress: bool = False) -> list[Verdict]:
        out = []
        for problem, response in zip(problems, responses, strict=True):
            ok, message = self._check(problem, response)
            text, over = cap_text(message, self.feedback_cap)
            out.append(Verdict(Status.VALID if ok else Status.INVALID, 1.0 if ok else 0.0, feedback=text,
                               feedback_over_cap=over, timings={"total": 0.0}))
        return out

    @classmethod
    def problem_from_row(cls, row: Mapping[str, Any]) -> Problem:
        return Problem(id=str(row["id"]), domain="lean", statement=str(row["statement"]))
