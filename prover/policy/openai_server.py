"""Client of an OpenAI-compatible server (``vllm serve``, ``trl vllm-serve``...): ``OpenAIServerPolicy``.

Applies the chat template locally (the trainer's tokenizer) and sends token ids to
``/v1/completions``, so prompts are identical to the other backends.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from typing import Any, Sequence

from prover.policy.base import Completion, Messages, Policy, SamplingParams
from prover.policy.config import PolicyConfig
from prover.policy.embedded import resolve_model
from prover.policy.hf import chat_token_ids, first_stop
from prover.policy.vllm_backend import load_tokenizer


class OpenAIServerPolicy(Policy):
    """Client of an OpenAI-compatible server (``vllm serve``), ``/v1/completions`` with token ids.

    Asks vLLM for ``return_token_ids``; servers that ignore it get completion
    ids by re-tokenizing the text (exact for vLLM, approximate elsewhere).
    """

    def __init__(self, cfg: PolicyConfig) -> None:
        self.cfg = cfg
        self.url = cfg.base_url.rstrip("/") + "/completions"
        self.api_key = cfg.api_key or os.environ.get("OPENAI_API_KEY", "") or "EMPTY"
        self.model_name = cfg.served_model_name or cfg.model
        self.tokenizer = load_tokenizer(cfg, resolve_model(cfg.model, cfg.cache_dir))

    def prompt_token_count(self, messages: Messages) -> int:
        return len(chat_token_ids(self.tokenizer, messages))

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        req = urllib.request.Request(
            self.url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=self.cfg.request_timeout) as resp:
                return json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:2000]
            raise RuntimeError(f"server {self.url} answered {exc.code}: {detail}") from exc

    def generate(self, prompts: Sequence[Messages], params: SamplingParams) -> list[list[Completion]]:
        results: list[list[Completion]] = []
        for messages in prompts:
            ids = chat_token_ids(self.tokenizer, messages)
            body: dict[str, Any] = {
                "model": self.model_name,
                "prompt": ids,
                "n": params.n,
                "temperature": params.temperature,
                "top_p": params.top_p,
                "max_tokens": params.max_new_tokens,
                "return_token_ids": True,
            }
            if params.stop:
                body["stop"] = list(params.stop)
            if params.seed is not None:
                body["seed"] = params.seed
            if params.logprobs:
                body["logprobs"] = 0
            data = self._post(body)
            choices = sorted(data.get("choices", []), key=lambda c: c.get("index", 0))
            row = []
            for ch in choices:
                text = ch.get("text", "")
                if params.stop:  # servers strip stop strings; be sure
                    cut = first_stop(text, params.stop)
                    text = text if cut < 0 else text[:cut]
                tok = ch.get("token_ids")
                if tok is None:
                    tok = self.tokenizer(text, add_special_tokens=False)["input_ids"]
                lps = None
                if params.logprobs and ch.get("logprobs"):
                    lps = tuple(float(x) for x in ch["logprobs"].get("token_logprobs") or [])
                reason = "length" if ch.get("finish_reason") == "length" else "stop"
                row.append(Completion(text, tuple(int(t) for t in tok), tuple(ids), lps, reason))
            results.append(row)
        return results


__all__ = ["OpenAIServerPolicy"]
