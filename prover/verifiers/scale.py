"""Verification elsewhere: one setting, ``scale_out``, in every domain's verifier config.

``scale_out`` is empty (verify in this process), or names exactly one of

* ``remote: {urls: [...], ...}`` -- ``prover serve`` instances (``prover.verifiers.remote``), any domain;
* ``kimina: {urls: [...], ...}`` -- an existing kimina-lean-server (``prover.verifiers.kimina``), Lean only;
* ``ray: {actors: N, ...}`` -- this verifier, as configured, run by Ray actors (``prover.verifiers.ray_pool``).

``build_scaled`` is called by the one verifier factory (``prover.verifiers.get_verifier``);
training, evaluation, ``prover verify`` and ``prover serve`` select a backend by config alone.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

from prover.verifiers.base import Verifier

KINDS: dict[str, tuple[str, ...]] = {"remote": ("lean", "code", "math"), "kimina": ("lean",), "ray": ("lean", "code", "math")}


def check_scale_out(scale_out: Mapping[str, Any], domain: str) -> None:
    """Validate a ``scale_out`` mapping (cheap: nothing is started); errors say how to fix it."""
    if not isinstance(scale_out, Mapping):
        raise ValueError(f"{domain} verifier: scale_out must be a mapping such as {{remote: {{urls: [...]}}}}, "
                         f"got {type(scale_out).__name__}")
    kinds = list(scale_out)
    if len(kinds) > 1:
        raise ValueError(f"{domain} verifier: scale_out names {kinds}; choose one of {sorted(KINDS)}")
    for kind in kinds:
        if kind not in KINDS:
            raise ValueError(f"{domain} verifier: scale_out.{kind} is unknown; use one of {sorted(KINDS)}")
        if domain not in KINDS[kind]:
            raise ValueError(f"{domain} verifier: scale_out.{kind} serves only {', '.join(KINDS[kind])}; "
                             "use remote or ray for this domain")
        settings = scale_out[kind]
        if settings is not None and not isinstance(settings, Mapping):
            raise ValueError(f"{domain} verifier: scale_out.{kind} must be a mapping of its settings, got {settings!r}")
        _settings_class(kind)(**dict(settings or {}))  # unknown keys and bad values fail here, before any start


def _settings_class(kind: str) -> type:
    if kind == "remote":
        from prover.verifiers.remote import RemoteConfig

        return RemoteConfig
    if kind == "kimina":
        from prover.verifiers.kimina import KiminaConfig

        return KiminaConfig
    from prover.verifiers.ray_pool import RayConfig

    return RayConfig


def build_scaled(domain: str, config: Any) -> Verifier | None:
    """The verifier ``config.scale_out`` asks for, or None (verify in this process)."""
    scale_out = dict(getattr(config, "scale_out", None) or {})
    if not scale_out:
        return None
    (kind, settings), = scale_out.items()
    settings = dict(settings or {})
    if kind == "remote":
        from prover.verifiers.remote import make_remote_verifier

        return make_remote_verifier(domain, settings)
    if kind == "kimina":
        from prover.verifiers.kimina import make_kimina_verifier

        return make_kimina_verifier(settings)
    from prover.verifiers.ray_pool import make_ray_verifier

    local = dataclasses.replace(config, scale_out={})  # each actor runs this verifier in its own process
    return make_ray_verifier(domain, settings, local)


__all__ = ["KINDS", "build_scaled", "check_scale_out"]
