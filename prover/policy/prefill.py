"""Shared prompt prefill: the rows of one ``generate`` call that carry the same prompt are prefilled once.

GRPO samples ``num_generations`` completions of every prompt, and TRL hands transformers'
``generate`` each prompt repeated that many times; ``generate`` then runs the prompt's forward
pass once per copy. On a CPU that prefill is a large share of a step (a 200-token prompt costs
as much as 200 decode steps of one row). ``generate_shared_prefill`` computes the key/value
cache of every *distinct* prompt once (all tokens but the last), copies it to the rows that
share it, and lets ``generate`` go on from there: the positions (from the attention mask, as
``generate`` makes them), the mask, the sampling and the stopping are ``generate``'s own, so the
result is the same computation, up to the rounding of a differently shaped matrix product.

Training reuses the idea (``shared_prefix_logps``): the policy-gradient loss needs the
log-probabilities of each completion given its prompt, and TRL's forward pass runs the full
prompt once per completion. Here each distinct prompt's forward pass (with gradients) is run
once, its cache copied to the rows of its group (the copy is part of the autograd graph, so
the prompt's activations receive the gradient of every completion that reads them), and only
the completions are run on top. Positions and masks are those of TRL's own forward pass.

Used by the RL trainer (``grpo.share_prefill``) and by ``HFPolicy``.
"""

from __future__ import annotations

from typing import Any, Callable

import torch

# generate(...) keyword arguments under which the shortcut does not apply (they bring their own prefix)
_OWN_PREFIX = ("cache", "past_key_values", "inputs_embeds", "pixel_values", "token_type_ids", "mm_token_type_ids")


def distinct_rows(input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(first, inverse)``: the index of each distinct (ids, mask) row's first occurrence, in order of
    first occurrence, and for every row the position of its distinct row in ``first``."""
    keys: dict[tuple[int, ...], int] = {}
    first: list[int] = []
    inverse: list[int] = []
    rows = torch.cat([input_ids, attention_mask.to(input_ids.dtype)], dim=1).tolist()
    for i, row in enumerate(rows):
        key = tuple(row)
        if key not in keys:
            keys[key] = len(first)
            first.append(i)
        inverse.append(keys[key])
    device = input_ids.device
    return torch.tensor(first, device=device), torch.tensor(inverse, device=device)


def applies(input_ids: Any, attention_mask: Any, kwargs: dict[str, Any]) -> bool:
    """Whether the shortcut can be taken: a 2-D left-padded batch, no prefix of its own."""
    if not isinstance(input_ids, torch.Tensor) or not isinstance(attention_mask, torch.Tensor):
        return False
    if input_ids.ndim != 2 or input_ids.shape != attention_mask.shape or input_ids.shape[1] < 2:
        return False
    if any(kwargs.get(k) is not None for k in _OWN_PREFIX):
        return False
    return bool(attention_mask[:, -1].all())  # left padding: every row's last token is real


def prefill_cache(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> Any:
    """The key/value cache of ``input_ids`` (positions counted from the attention mask, as ``generate`` does)."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 0)
    with torch.no_grad():
        model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions, cache=cache,
              use_cache=True, logits_to_keep=1)
    return cache


def generate_shared_prefill(model: Any, generate: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``generate(*args, **kwargs)`` with each distinct prompt's prefill computed once (see the module doc).

    ``generate`` is the model's own ``generate`` (or a wrapper of it); falls back to calling it as is
    when no two rows share a prompt or the call brings a prefix of its own.
    """
    input_ids = kwargs.get("input_ids", args[0] if args else None)
    attention_mask = kwargs.get("attention_mask")
    if not applies(input_ids, attention_mask, kwargs):
        return generate(*args, **kwargs)
    first, inverse = distinct_rows(input_ids, attention_mask)
    if len(first) == input_ids.shape[0]:
        return generate(*args, **kwargs)
    cache = prefill_cache(model, input_ids[first, :-1], attention_mask[first, :-1])
    cache.reorder_cache(inverse)  # copy each distinct prompt's cache to the rows that carry it
    if args:
        args = (input_ids, *args[1:])
    return generate(*args, **{**kwargs, "cache": cache})


def shared_prefix_logps(model: Any, input_ids: torch.Tensor, attention_mask: torch.Tensor, logits_to_keep: int, *,
                        compute_entropy: bool, batch_size: int | None = None,
                        autocast: Callable[[], Any] | None = None) -> tuple[torch.Tensor, torch.Tensor | None] | None:
    """Per-token log-probs (and entropies) of the last ``logits_to_keep`` tokens of each row, as TRL's
    ``_get_per_token_logps_and_entropies`` computes them (``fused_lm_head``), with each distinct prompt's
    forward pass run once per chunk of ``batch_size`` rows. ``None`` when no two rows of a chunk share a
    prompt (the caller then runs its own forward pass)."""
    import contextlib

    prompt_len = input_ids.shape[1] - logits_to_keep
    if prompt_len < 2 or logits_to_keep < 1:
        return None
    size = batch_size or input_ids.shape[0]
    chunks = [(a, min(a + size, input_ids.shape[0])) for a in range(0, input_ids.shape[0], size)]
    splits = [distinct_rows(input_ids[a:b, :prompt_len], attention_mask[a:b, :prompt_len]) for a, b in chunks]
    if all(len(first) == b - a for (a, b), (first, _) in zip(chunks, splits)):
        return None
    from transformers import DynamicCache

    logps, entropies = [], []
    for (a, b), (first, inverse) in zip(chunks, splits):
        ids, mask = input_ids[a:b], attention_mask[a:b]
        cache = DynamicCache(config=getattr(model, "config", None))
        labels = ids[:, prompt_len - 1:].masked_fill(mask[:, prompt_len - 1:] == 0, -100)
        labels[:, 0] = -100  # the last prompt token: context, not scored
        with autocast() if autocast is not None else contextlib.nullcontext():
            model(input_ids=ids[first, :prompt_len - 1], attention_mask=mask[first, :prompt_len - 1], cache=cache,
                  use_cache=True, logits_to_keep=1)
            cache.reorder_cache(inverse)
            out = model(input_ids=ids[:, prompt_len - 1:], attention_mask=mask, cache=cache, use_cache=True,
                        labels=labels, fused_lm_head=True)
        logps.append(out.log_probs[:, -logits_to_keep:])
        if compute_entropy:
            entropies.append(out.entropy[:, -logits_to_keep:])
    return torch.cat(logps, dim=0), (torch.cat(entropies, dim=0) if compute_entropy else None)


__all__ = ["applies", "distinct_rows", "generate_shared_prefill", "prefill_cache", "shared_prefix_logps"]
