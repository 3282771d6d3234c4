"""vLLM backends: the offline ``LLM`` engine, and an OpenAI-compatible server client.

``vllm`` is imported only when ``VLLMPolicy`` is built, so CPU-only installs never
need it. Both backends apply the chat template locally (same tokenizer as the
trainer) and send token ids, so prompts are identical across backends.
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


def _load_tokenizer(cfg: PolicyConfig, model_path: str) -> Any:
    from transformers import AutoTokenizer

    path = resolve_model(cfg.tokenizer, cfg.cache_dir) if cfg.tokenizer else model_path
    return AutoTokenizer.from_pretrained(path, trust_remote_code=cfg.trust_remote_code)


class VLLMPolicy(Policy):
    """Offline vLLM engine (GPU)."""

    def __init__(self, cfg: PolicyConfig) -> None:
        try:
            import vllm
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise ImportError(
                "PolicyConfig.backend='vllm' needs vLLM: `pip install vllm` (GPU machines; "
                "or `pip install -e .[gpu]`), or use backend='transformers'") from exc
        self._vllm = vllm
        self.cfg = cfg
        self.model_path = resolve_model(cfg.model, cfg.cache_dir)
        self.tokenizer = _load_tokenizer(cfg, self.model_path)
        self.llm: Any = None
        self._lora: Any = None
        self._start(self.model_path)

    def _start(self, path: str) -> None:
        cfg = self.cfg
        kwargs: dict[str, Any] = dict(
            model=path,
            tokenizer=resolve_model(cfg.tokenizer, cfg.cache_dir) if cfg.tokenizer else path,
            dtype=cfg.dtype,
            gpu_memory_utilization=cfg.gpu_memory_utilization,
            tensor_parallel_size=cfg.tensor_parallel_size,
            seed=cfg.seed,
            trust_remote_code=cfg.trust_remote_code,
            enforce_eager=cfg.enforce_eager,
            enable_prefix_caching=cfg.enable_prefix_caching,
        )
        if cfg.max_model_len:
            kwargs["max_model_len"] = cfg.max_model_len
        if cfg.lora_path:
            from vllm.lora.request import LoRARequest

            kwargs.update(enable_lora=True, max_lora_rank=cfg.max_lora_rank)
            self._lora = LoRARequest("policy", 1, cfg.lora_path)
        self.llm = self._vllm.LLM(**kwargs)

    def prompt_token_count(self, messages: Messages) -> int:
        return len(chat_token_ids(self.tokenizer, messages))

    def generate(self, prompts: Sequence[Messages], params: SamplingParams) -> list[list[Completion]]:
        encoded = [chat_token_ids(self.tokenizer, m) for m in prompts]
        sp = self._vllm.SamplingParams(
            n=params.n,
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            stop=list(params.stop) or None,
            seed=params.seed,
            logprobs=0 if params.logprobs else None,  # 0: the sampled token's logprob only
        )
        outputs = self.llm.generate(
            [{"prompt_token_ids": ids} for ids in encoded], sp, use_tqdm=False, lora_request=self._lora)
        results: list[list[Completion]] = []
        for ids, req in zip(encoded, outputs):
            row = []
            for o in req.outputs:
                lps = None
                if params.logprobs and o.logprobs is not None:
                    lps = tuple(float(step[t].logprob) for step, t in zip(o.logprobs, o.token_ids))
                reason = "length" if o.finish_reason == "length" else "stop"
                row.append(Completion(o.text, tuple(o.token_ids), tuple(ids), lps, reason))
            results.append(row)
        return results

    def close(self) -> None:
        if self.llm is None:
            return
        self.llm = None
        import gc

        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass


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
        self.tokenizer = _load_tokenizer(cfg, resolve_model(cfg.model, cfg.cache_dir))

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
