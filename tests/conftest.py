"""Shared fixtures. The real wasm Lean starts once per test session (minutes, ~4-6 GB)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def lean_verifier():
    """One warm pool of the real Lean checker for the whole session.

    Set PROVER_SKIP_LEAN=1 to skip Lean tests on a machine without the toolchain
    (CI never sets it: there, a missing toolchain is a failure).
    """
    if os.environ.get("PROVER_SKIP_LEAN") == "1":
        pytest.skip("PROVER_SKIP_LEAN=1")
    from prover.verifiers.lean import LeanConfig, LeanVerifier

    verifier = LeanVerifier(LeanConfig(workers=1, timeout_s=60.0))
    yield verifier
    verifier.close()


@pytest.fixture(scope="session")
def math_verifier():
    """The real math verifier (math-verify in its killable helper), shared by the math test files."""
    from prover.verifiers.math import MathVerifier

    verifier = MathVerifier()
    yield verifier
    verifier.close()


@pytest.fixture(scope="session")
def code_verifier():
    """The real code verifier (bubblewrap sandbox, 2 workers, 10 s per run), shared by the code test files."""
    from prover.verifiers.code import CodeVerifier, CodeVerifierConfig

    verifier = CodeVerifier(CodeVerifierConfig(timeout_s=10, workers=2))
    yield verifier
    verifier.close()
