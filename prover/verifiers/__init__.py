"""Verifiers behind one interface: ``get_verifier(domain, **options)``."""

from __future__ import annotations

from typing import Any

from prover.verifiers.base import RowError, Verifier


def verifier_class(domain: str) -> type[Verifier]:
    """The ``Verifier`` class of a domain (imported lazily: each pulls its own dependencies)."""
    if domain == "lean":
        from prover.verifiers.lean import LeanVerifier

        return LeanVerifier
    if domain == "code":
        from prover.verifiers.code import CodeVerifier

        return CodeVerifier
    if domain == "math":
        from prover.verifiers.math import MathVerifier

        return MathVerifier
    raise ValueError(f"unknown domain {domain!r}: use lean, code or math")


def get_verifier(domain: str, config: Any = None, **kwargs: Any) -> Verifier:
    """A ready verifier for ``domain`` built from its config object (or default)."""
    cls = verifier_class(domain)
    return cls(config, **kwargs) if config is not None else cls(**kwargs)


__all__ = ["RowError", "Verifier", "get_verifier", "verifier_class"]
