"""Prompt length limit: measured with the tokenizer's chat template, never cut.

A prompt over the limit is dropped (``None``) and the drop is counted by reason.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Callable, Mapping, Sequence

Messages = Sequence[Mapping[str, str]]
TokenCounter = Callable[[Messages], int]


def chat_token_counter(tokenizer: Any) -> TokenCounter:
    """Count tokens of messages after ``tokenizer``'s chat template (generation prompt added)."""
    from prover.policy.hf import chat_token_ids

    return lambda messages: len(chat_token_ids(tokenizer, messages))


class PromptLimiter:
    """``check(messages)`` returns the messages, or ``None`` when they exceed ``max_tokens``.

    ``count`` is any ``messages -> tokens`` function, e.g. ``policy.prompt_token_count``
    or ``chat_token_counter(tokenizer)``. ``drops`` counts dropped prompts by reason.
    """

    def __init__(self, count: TokenCounter, max_tokens: int, drops: Counter[str] | None = None) -> None:
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be a positive token count, got {max_tokens}")
        self.count = count
        self.max_tokens = max_tokens
        self.drops: Counter[str] = drops if drops is not None else Counter()
        self.checked = 0

    @classmethod
    def from_tokenizer(cls, tokenizer: Any, max_tokens: int, drops: Counter[str] | None = None) -> "PromptLimiter":
        return cls(chat_token_counter(tokenizer), max_tokens, drops)

    def fits(self, messages: Messages) -> bool:
        return self.count(messages) <= self.max_tokens

    def check(self, messages: Messages, reason: str = "prompt_too_long") -> Messages | None:
        self.checked += 1
        if self.fits(messages):
            return messages
        self.drops[reason] += 1
        return None

    def filter(self, prompts: Sequence[Messages], reason: str = "prompt_too_long") -> list[int]:
        """Indices of the prompts that fit (the others are counted as drops)."""
        return [i for i, m in enumerate(prompts) if self.check(m, reason) is not None]
