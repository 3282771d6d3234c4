"""The generation interface every policy backend implements."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Mapping, Sequence

Messages = Sequence[Mapping[str, str]]


@dataclass(frozen=True)
class SamplingParams:
    """How to sample. ``n`` completions per prompt."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    stop: tuple[str, ...] = ()
    seed: int | None = None
    logprobs: bool = False

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"SamplingParams.n must be >= 1, got {self.n}")
        if self.temperature < 0:
            raise ValueError(f"SamplingParams.temperature must be >= 0 (0 = greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"SamplingParams.top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1:
            raise ValueError(f"SamplingParams.max_new_tokens must be >= 1, got {self.max_new_tokens}")


@dataclass(frozen=True)
class Completion:
    """One sampled completion. ``finish_reason`` is ``stop`` (EOS or stop string) or ``length``."""

    text: str
    token_ids: tuple[int, ...] = ()
    prompt_token_ids: tuple[int, ...] = ()
    logprobs: tuple[float, ...] | None = None
    finish_reason: str = "stop"

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class Policy(abc.ABC):
    """Chat prompts in, ``n`` completions per prompt out (outer list follows prompts)."""

    @abc.abstractmethod
    def generate(self, prompts: Sequence[Messages], params: SamplingParams) -> list[list[Completion]]:
        ...

    @abc.abstractmethod
    def prompt_token_count(self, messages: Messages) -> int:
        """Tokens of ``messages`` after the chat template (generation prompt added)."""

    def close(self) -> None:
        """Free engines and memory. Idempotent."""
