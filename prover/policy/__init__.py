"""Generation policies: one interface, transformers / vLLM / OpenAI-server backends."""

from prover.policy.base import Completion, Messages, Policy, SamplingParams
from prover.policy.config import PolicyConfig, default_cache_dir
from prover.policy.embedded import ensure_checkpoint, find_gguf, resolve_model
from prover.policy.factory import load_policy

__all__ = [
    "Completion",
    "Messages",
    "Policy",
    "PolicyConfig",
    "SamplingParams",
    "default_cache_dir",
    "ensure_checkpoint",
    "find_gguf",
    "load_policy",
    "resolve_model",
]
