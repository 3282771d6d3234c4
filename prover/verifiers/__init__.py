"""Verifiers behind one interface, built by one factory: ``get_verifier(domain, config | options)``.

Every entry point (training, evaluation, ``prover verify``, benches) builds its
verifier here: ``verifier_config(domain, options)`` turns a mapping of settings
into the domain's config dataclass (an unknown key is a one-line error naming
the valid keys), ``get_verifier`` builds the verifier from it.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
from typing import Any, Mapping

from prover.verifiers.base import RowError, Verifier

# domain -> (module, Verifier class, config class); imported lazily: each pulls its own dependencies.
REGISTRY: dict[str, tuple[str, str, str]] = {
    "lean": ("prover.verifiers.lean", "LeanVerifier", "LeanConfig"),
    "code": ("prover.verifiers.code", "CodeVerifier", "CodeVerifierConfig"),
    "math": ("prover.verifiers.math.verifier", "MathVerifier", "MathVerifierConfig"),
}


def _entry(domain: str) -> tuple[Any, str, str]:
    if domain not in REGISTRY:
        raise ValueError(f"unknown domain {domain!r}: use lean, code or math")
    module, cls, config = REGISTRY[domain]
    return importlib.import_module(module), cls, config


def verifier_class(domain: str) -> type[Verifier]:
    """The ``Verifier`` class of a domain."""
    module, cls, _ = _entry(domain)
    return getattr(module, cls)


def verifier_config_class(domain: str) -> type:
    """The config dataclass of a domain's verifier."""
    module, _, config = _entry(domain)
    return getattr(module, config)


def verifier_config(domain: str, options: Mapping[str, Any] | None = None) -> Any:
    """The domain's verifier config from ``options`` (field -> value); errors name the key and the fix."""
    cls = verifier_config_class(domain)
    names = [f.name for f in dataclasses.fields(cls)]
    for key in options or {}:
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=2)
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise ValueError(f"unknown {domain} verifier option {key!r}{hint}; valid options: {', '.join(names)}")
    try:
        return cls(**dict(options or {}))
    except TypeError as e:
        raise ValueError(f"{domain} verifier options: {e}") from None


def get_verifier(domain: str, config: Any = None, *, options: Mapping[str, Any] | None = None,
                 start: bool = True) -> Verifier:
    """A verifier for ``domain`` from its config object (or ``options``, or the defaults).

    ``start=False`` (Lean) returns it unstarted: call ``start(wait=...)`` or let the first check start it.
    """
    if config is None:
        config = verifier_config(domain, options)
    elif options:
        config = dataclasses.replace(config, **dict(options))
    from prover.verifiers.scale import build_scaled

    scaled = build_scaled(domain, config)  # scale_out: prover serve, kimina-lean-server or Ray actors
    if scaled is not None:
        return scaled
    cls = verifier_class(domain)
    if domain == "lean":
        return cls(config, start=start)  # type: ignore[call-arg]
    return cls(config)


__all__ = ["REGISTRY", "RowError", "Verifier", "get_verifier", "verifier_class", "verifier_config",
           "verifier_config_class"]
