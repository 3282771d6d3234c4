"""Stop a rollout once its answer block is complete: the answer format allows nothing after it.

A Lean answer is one fenced block and nothing after it (``format.nothing_after_block``),
so every token sampled after the block's closing fence is wasted: it costs
generation time and training time, and can only make the format reward fail.
``AnswerEndStop`` is a transformers ``StoppingCriteria`` that marks a row finished
as soon as its completion holds a *closed* answer block, found by the one Lean
extraction rule (``prover.formats.lean.lean_blocks``), so the extraction, the
format reward and the verifier all see the complete block that made it stop.

A finished row is padded by ``generate`` with the pad token; when that token is
one of the end-of-sequence tokens (SmolLM2, most chat models), TRL ends the
completion there exactly as if the model had emitted it. Otherwise stopping is
refused (``stop_supported``): padding would reach the loss as sampled tokens.
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
from transformers import StoppingCriteria

from prover.formats.lean import lean_blocks

# Domains whose answer ends with a closing fence; math answers (\boxed{}) carry no end marker.
STOP_DOMAINS: tuple[str, ...] = ("lean",)


def closed_answer(text: str) -> bool:
    """Does ``text`` hold a Lean answer block with its closing fence?"""
    return "```" in text and any(b.end is not None for b in lean_blocks(text))


def backtick_token_ids(tokenizer: Any) -> frozenset[int] | None:
    """Ids of the tokens whose text holds a backtick (None: the vocabulary cannot be listed; check every token)."""
    try:
        vocab = tokenizer.get_vocab()
    except (AttributeError, NotImplementedError):
        return None
    return frozenset(i for i in vocab.values() if "`" in tokenizer.decode([i]))


def stop_supported(pad_token_id: int | None, eos_token_ids: Sequence[int]) -> bool:
    """Rows stopped early are padded with ``pad_token_id``: only an end-of-sequence pad ends them cleanly."""
    return pad_token_id is not None and pad_token_id in set(eos_token_ids)


class AnswerEndStop(StoppingCriteria):
    """Finish each row once its completion (the tokens after ``prompt_len``) holds a closed answer block."""

    def __init__(self, tokenizer: Any, prompt_len: int, fence_ids: frozenset[int] | None = None) -> None:
        self.tokenizer = tokenizer
        self.prompt_len = prompt_len
        self.stopped = 0  # rows this criterion finished (for tests and logs)
        self._done: set[int] = set()
        self._fence_ids = fence_ids

    def __call__(self, input_ids: torch.LongTensor, scores: Any, **kwargs: Any) -> torch.BoolTensor:
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if input_ids.shape[1] <= self.prompt_len:
            return done
        last = input_ids[:, -1].tolist()
        for row, token in enumerate(last):
            if row in self._done:
                done[row] = True
                continue
            # a block can only close on a token that writes a backtick (checking others would be wasted decoding)
            if self._fence_ids is not None and token not in self._fence_ids:
                continue
            text = self.tokenizer.decode(input_ids[row, self.prompt_len:], skip_special_tokens=True)
            if closed_answer(text):
                self._done.add(row)
                self.stopped += 1
                done[row] = True
        return done


__all__ = ["AnswerEndStop", "STOP_DOMAINS", "backtick_token_ids", "closed_answer", "stop_supported"]
