"""``TransformersPolicy``: batched sampling with plain ``transformers`` (CPU or GPU).

The trainer can train the very weights this policy samples from: ``.model`` and
``.tokenizer`` are public (assign ``.model`` to swap in a peft-wrapped model).
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import torch

from prover.policy.base import Completion, Messages, Policy, SamplingParams
from prover.policy.config import PolicyConfig
from prover.policy.prefill import generate_shared_prefill
from prover.policy.embedded import resolve_model

log = logging.getLogger(__name__)


def pick_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("PolicyConfig.device='cuda' but torch sees no GPU: use device='auto' or 'cpu'")
    return torch.device(device)


def pick_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]


def chat_token_ids(tokenizer: Any, messages: Messages) -> list[int]:
    """Token ids of ``messages`` through the tokenizer's chat template, generation prompt added."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError("the tokenizer has no chat template: use an instruct/chat model or set tokenizer.chat_template")
    ids = tokenizer.apply_chat_template([dict(m) for m in messages], add_generation_prompt=True, tokenize=True)
    if hasattr(ids, "keys"):  # BatchEncoding in newer transformers
        ids = ids["input_ids"]
    if ids and isinstance(ids[0], list):
        ids = ids[0]
    return [int(t) for t in ids]


def first_stop(text: str, stops: Sequence[str]) -> int:
    """Index of the earliest occurrence of any stop string in ``text``, or -1."""
    hits = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(hits) if hits else -1


class TransformersPolicy(Policy):
    """Sampling with ``model.generate``: left padding, ``n`` samples per prompt, stop strings."""

    def __init__(self, cfg: PolicyConfig | None = None, *, model: Any = None, tokenizer: Any = None) -> None:
        self.cfg = cfg or PolicyConfig()
        if (model is None) != (tokenizer is None):
            raise ValueError("pass both model and tokenizer, or neither")
        if model is None:
            from transformers import AutoModelForCausalLM, AutoTokenizer

            path = resolve_model(self.cfg.model, self.cfg.cache_dir)
            tok_path = resolve_model(self.cfg.tokenizer, self.cfg.cache_dir) if self.cfg.tokenizer else path
            self.device = pick_device(self.cfg.device)
            if self.device.type == "cpu" and self.cfg.cpu_threads:
                torch.set_num_threads(self.cfg.cpu_threads)
            tokenizer = AutoTokenizer.from_pretrained(tok_path, trust_remote_code=self.cfg.trust_remote_code)
            model = AutoModelForCausalLM.from_pretrained(
                path, dtype=pick_dtype(self.cfg.dtype, self.device), trust_remote_code=self.cfg.trust_remote_code)
            if self.cfg.lora_path:
                from peft import PeftModel

                model = PeftModel.from_pretrained(model, self.cfg.lora_path).merge_and_unload()
            model.to(self.device)
            self.model_path = path
        else:
            self.device = next(model.parameters()).device
            self.model_path = getattr(getattr(model, "config", None), "_name_or_path", "")
        self.model = model
        self.tokenizer = tokenizer
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model.eval()

    # -- tokens -------------------------------------------------------------
    @property
    def eos_token_ids(self) -> set[int]:
        ids: set[int] = set()
        for src in (self.tokenizer.eos_token_id, getattr(self.model.generation_config, "eos_token_id", None)):
            if isinstance(src, int):
                ids.add(src)
            elif src:
                ids.update(int(s) for s in src)
        return ids

    def encode_prompt(self, messages: Messages) -> list[int]:
        return chat_token_ids(self.tokenizer, messages)

    def prompt_token_count(self, messages: Messages) -> int:
        return len(self.encode_prompt(messages))

    # -- generation ---------------------------------------------------------
    def generate(self, prompts: Sequence[Messages], params: SamplingParams) -> list[list[Completion]]:
        encoded = [self.encode_prompt(m) for m in prompts]
        # one row per (prompt, sample); batches of at most cfg.batch_size rows
        rows = [(i, ids) for i, ids in enumerate(encoded) for _ in range(params.n)]
        if params.seed is not None:
            torch.manual_seed(params.seed)
        results: list[list[Completion]] = [[] for _ in prompts]
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(rows), self.cfg.batch_size):
                chunk = rows[start:start + self.cfg.batch_size]
                for (i, ids), completion in zip(chunk, self._generate_batch([ids for _, ids in chunk], params)):
                    results[i].append(completion)
        finally:
            self.model.train(was_training)
        return results

    def _left_pad(self, seqs: Sequence[Sequence[int]]) -> tuple[torch.Tensor, torch.Tensor]:
        width = max(len(s) for s in seqs)
        pad = int(self.tokenizer.pad_token_id)
        ids = torch.full((len(seqs), width), pad, dtype=torch.long)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for r, s in enumerate(seqs):
            if s:
                ids[r, width - len(s):] = torch.tensor(list(s), dtype=torch.long)
                mask[r, width - len(s):] = 1
        return ids.to(self.device), mask.to(self.device)

    def _generate_batch(self, seqs: Sequence[list[int]], params: SamplingParams) -> list[Completion]:
        input_ids, mask = self._left_pad(seqs)
        eos = sorted(self.eos_token_ids)
        kwargs: dict[str, Any] = dict(
            max_new_tokens=params.max_new_tokens,
            eos_token_id=eos,
            pad_token_id=int(self.tokenizer.pad_token_id),
            use_cache=True,
        )
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p, top_k=0)
        else:
            kwargs.update(do_sample=False)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        with torch.inference_mode():
            if self.device.type == "cpu":  # rows of one prompt (params.n > 1) prefilled once; a GPU computes as before
                out = generate_shared_prefill(self.model, self.model.generate, input_ids=input_ids,
                                              attention_mask=mask, **kwargs)
            else:
                out = self.model.generate(input_ids=input_ids, attention_mask=mask, **kwargs)
        generated = out[:, input_ids.shape[1]:].tolist()
        completions = [self._finish(list(p), g, params) for p, g in zip(seqs, generated)]
        if params.logprobs:
            lps = self.token_logprobs([c.prompt_token_ids for c in completions], [c.token_ids for c in completions])
            completions = [
                Completion(c.text, c.token_ids, c.prompt_token_ids, tuple(lp), c.finish_reason)
                for c, lp in zip(completions, lps)
            ]
        return completions

    def _finish(self, prompt_ids: list[int], gen: list[int], params: SamplingParams) -> Completion:
        """Cut padding, find EOS / stop strings, decode; vLLM-like conventions.

        ``token_ids`` keep the EOS token (and, for a stop string, every token up
        to the one completing it); ``text`` excludes EOS and the stop string.
        """
        eos = self.eos_token_ids
        end = next((k for k, t in enumerate(gen) if t in eos), None)
        body = gen if end is None else gen[:end]
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        cut = first_stop(text, params.stop) if params.stop else -1
        if cut >= 0:
            # smallest prefix of tokens whose text already holds the stop string
            lo, hi = 1, len(body)
            while lo < hi:
                mid = (lo + hi) // 2
                if first_stop(self.tokenizer.decode(body[:mid], skip_special_tokens=True), params.stop) >= 0:
                    hi = mid
                else:
                    lo = mid + 1
            return Completion(text[:cut], tuple(body[:lo]), tuple(prompt_ids), None, "stop")
        if end is not None:
            return Completion(text, tuple(gen[:end + 1]), tuple(prompt_ids), None, "stop")
        return Completion(text, tuple(gen), tuple(prompt_ids), None, "length")

    # -- scoring (also for the trainer) ----------------------------------------
    def token_logprobs(
        self,
        prompt_ids: Sequence[Sequence[int]],
        completion_ids: Sequence[Sequence[int]],
        *,
        batch_size: int | None = None,
    ) -> list[list[float]]:
        """Log-probability under the current model of each completion token given its prompt.

        Raw model distribution (temperature 1, no top-p), as vLLM reports by default.
        """
        size = batch_size or self.cfg.batch_size
        out: list[list[float]] = []
        was_training = self.model.training
        self.model.eval()
        try:
            for start in range(0, len(prompt_ids), size):
                ps, cs = prompt_ids[start:start + size], completion_ids[start:start + size]
                full = [list(p) + list(c) for p, c in zip(ps, cs)]
                ids, mask = self._left_pad(full)
                pos = (mask.cumsum(-1) - 1).clamp(min=0)
                with torch.inference_mode():
                    logits = self.model(input_ids=ids, attention_mask=mask, position_ids=pos).logits.float()
                logp = torch.log_softmax(logits[:, :-1], dim=-1)
                picked = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1)
                width = ids.shape[1]
                for r, c in enumerate(cs):
                    n = len(c)
                    out.append(picked[r, width - 1 - n:width - 1].tolist() if n else [])
        finally:
            self.model.train(was_training)
        return out

    def close(self) -> None:
        self.model = None  # type: ignore[assignment]
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
