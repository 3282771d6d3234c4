"""``load_policy``: the backend named by the config."""

from __future__ import annotations

from prover.policy.base import Policy
from prover.policy.config import PolicyConfig


def load_policy(cfg: PolicyConfig | None = None) -> Policy:
    """Build the policy ``cfg.backend`` names (vLLM is imported only for 'vllm')."""
    cfg = cfg or PolicyConfig()
    if cfg.backend == "transformers":
        from prover.policy.hf import TransformersPolicy

        return TransformersPolicy(cfg)
    if cfg.backend == "vllm":
        from prover.policy.vllm_backend import VLLMPolicy

        return VLLMPolicy(cfg)
    if cfg.backend == "openai":
        from prover.policy.openai_server import OpenAIServerPolicy

        return OpenAIServerPolicy(cfg)
    raise ValueError(f"unknown backend {cfg.backend!r}")  # PolicyConfig already checks
