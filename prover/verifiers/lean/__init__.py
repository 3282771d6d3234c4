"""The pooled Lean 4 verifier: extraction, policy, feedback, the checker pool."""

from prover.verifiers.lean.config import LeanConfig
from prover.verifiers.lean.verifier import LeanVerifier

__all__ = ["LeanConfig", "LeanVerifier"]
