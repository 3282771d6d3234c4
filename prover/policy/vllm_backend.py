"""The offline vLLM engine backend (``VLLMPolicy``); the server client is ``prover.policy.openai_server``.

``vllm`` is imported only when ``VLLMPolicy`` is built, so CPU-only installs never
need it. Both backends apply the chat template locally (same tokenizer as the
trainer) and send token ids, so prompts are identical across backends.
"""

from __future__ import annotations

from typing import Any, Sequence

from prover.policy.base import Completion, Messages, Policy, SamplingParams
from prover.policy.config import PolicyConfig
from prover.policy.embedded import resolve_model
from prover.policy.hf import chat_token_ids


def load_tokenizer(cfg: PolicyConfig, model_path: str) -> Any:
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
        self.tokenizer = load_tokenizer(cfg, self.model_path)
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
