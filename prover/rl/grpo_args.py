"""``GRPOConfig`` from the run's settings: the derived fields, plus any field passed through under ``trl:``.

``trl:`` (YAML mapping or ``--trl.<field> value``) sets any ``trl.GRPOConfig``
field the trainer does not derive itself; the derived ones (``MANAGED``) are set
through their own keys so the replay trainer's invariants hold. ``report_to``
(``metrics.report_to``: tensorboard, wandb, trackio...) goes through TRL.
"""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path
from typing import Any, Mapping

import torch
from trl import GRPOConfig

from prover.policy.precision import precision_flags
from prover.rl.config import ConfigError, TrainConfig
from prover.rl.trl_compat import quiet_gradient_checkpointing_rename

# GRPOConfig fields the trainer derives: -> the setting to use instead.
MANAGED: dict[str, str] = {
    "output_dir": "output_dir", "max_steps": "steps", "seed": "seed",
    "per_device_train_batch_size": "grpo.batch_size", "gradient_accumulation_steps": "grpo.grad_accum",
    "num_generations": "grpo.num_generations", "learning_rate": "grpo.learning_rate",
    "epsilon": "grpo.clip_low", "epsilon_high": "grpo.clip_high", "beta": "grpo.beta",
    "scale_rewards": "grpo.scale_rewards", "loss_type": "grpo.loss_type",
    "max_completion_length": "grpo.max_new_tokens", "temperature": "grpo.temperature", "top_p": "grpo.top_p",
    "remove_unused_columns": "(fixed: the replay slots need every column)",
    "shuffle_dataset": "(fixed: the slots are filled online)", "save_total_limit": "save_total_limit",
    "save_steps": "save_every", "report_to": "metrics.report_to", "eval_strategy": "eval.every",
    "eval_steps": "eval.every", "use_cpu": "(derived from the machine)", "model_init_kwargs": "model.dtype",
    "num_iterations": "grpo.num_iterations", "lr_scheduler_type": "grpo.lr_scheduler",
    "warmup_steps": "grpo.warmup_ratio", "weight_decay": "grpo.weight_decay", "max_grad_norm": "grpo.max_grad_norm",
    "mask_truncated_completions": "grpo.mask_truncated_completions", "use_vllm": "grpo.use_vllm",
    "vllm_mode": "grpo.vllm_mode", "vllm_server_base_url": "grpo.vllm_server_base_url",
    "vllm_gpu_memory_utilization": "grpo.vllm_gpu_memory_utilization",
    "vllm_tensor_parallel_size": "grpo.vllm_tensor_parallel_size", "deepspeed": "grpo.deepspeed",
    "bf16": "grpo.precision", "fp16": "grpo.precision", "gradient_checkpointing": "model.gradient_checkpointing",
    "trust_remote_code": "model.trust_remote_code", "save_strategy": "save_every",
    "num_generations_eval": "eval.num_generations", "per_device_eval_batch_size": "eval.num_generations",
}


def cuda_available() -> bool:
    return torch.cuda.is_available()


def model_dtype(dtype: str) -> str:
    if dtype != "auto":
        return dtype
    return "bfloat16" if cuda_available() and torch.cuda.is_bf16_supported() else "float32"


def build_grpo_args(cfg: TrainConfig, run_dir: Path, num_processes: int, *, has_eval: bool = False) -> GRPOConfig:
    g = cfg.grpo
    completions = g.batch_size * g.num_generations
    if completions % (g.grad_accum * num_processes):
        raise ConfigError(
            f"grpo.batch_size * grpo.num_generations = {completions} completions per step must split evenly over "
            f"grad_accum={g.grad_accum} x {num_processes} processes; change batch_size, num_generations or grad_accum")
    init_kwargs: dict[str, Any] = {"dtype": model_dtype(cfg.model.dtype)}
    if cfg.model.attn_implementation:
        init_kwargs["attn_implementation"] = cfg.model.attn_implementation
    eval_kwargs: dict[str, Any] = {"eval_strategy": "no"}
    if has_eval:
        n_eval = cfg.eval.num_generations or g.num_generations
        eval_kwargs = {"eval_strategy": "steps", "eval_steps": cfg.eval.every, "num_generations_eval": n_eval,
                       "per_device_eval_batch_size": n_eval * max(1, g.batch_size // num_processes)}
    with quiet_gradient_checkpointing_rename():
        return _grpo_config(cfg, run_dir, completions // (g.grad_accum * num_processes), init_kwargs, eval_kwargs)


def check_passthrough(options: Mapping[str, Any]) -> None:
    """``trl:`` keys must be GRPOConfig fields, and not ones the trainer derives from its own settings."""
    fields = {f.name for f in dataclasses.fields(GRPOConfig)}
    for key in options:
        if key in MANAGED:
            raise ConfigError(f"trl.{key} is set by the trainer: set {MANAGED[key]!r} instead")
        if key not in fields:
            close = difflib.get_close_matches(key, sorted(fields), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise ConfigError(f"trl.{key} is not a trl.GRPOConfig field{hint} (trl.<field> passes any field through)")


def _grpo_config(cfg: TrainConfig, run_dir: Path, per_device: int, init_kwargs: dict[str, Any],
                 eval_kwargs: dict[str, Any]) -> GRPOConfig:
    check_passthrough(cfg.trl)
    kwargs = _derived(cfg, run_dir, per_device, init_kwargs, eval_kwargs)
    kwargs.update(cfg.trl)  # any other GRPOConfig field, passed through
    try:
        return GRPOConfig(**kwargs)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"trl.GRPOConfig rejected the settings: {e}") from None


def _derived(cfg: TrainConfig, run_dir: Path, per_device: int, init_kwargs: dict[str, Any],
             eval_kwargs: dict[str, Any]) -> dict[str, Any]:
    g = cfg.grpo
    return dict(
        output_dir=str(run_dir),
        max_steps=cfg.steps,
        seed=cfg.seed,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=g.grad_accum,
        num_generations=g.num_generations,
        num_iterations=g.num_iterations,
        learning_rate=g.learning_rate,
        lr_scheduler_type=g.lr_scheduler,
        warmup_steps=g.warmup_ratio,  # a float in [0, 1) is a share of the steps
        weight_decay=g.weight_decay,
        max_grad_norm=g.max_grad_norm if g.max_grad_norm > 0 else 1e9,
        epsilon=g.clip_low,
        epsilon_high=g.clip_high,
        beta=g.beta,
        scale_rewards=g.scale_rewards,
        loss_type=g.loss_type,
        max_completion_length=g.max_new_tokens,
        temperature=g.temperature,
        top_p=g.top_p,
        mask_truncated_completions=g.mask_truncated_completions,
        use_vllm=g.use_vllm,
        vllm_mode=g.vllm_mode,
        vllm_server_base_url=g.vllm_server_base_url or None,
        vllm_gpu_memory_utilization=g.vllm_gpu_memory_utilization,
        vllm_tensor_parallel_size=g.vllm_tensor_parallel_size,
        deepspeed=g.deepspeed or None,
        use_cpu=not cuda_available(),
        **precision_flags(g.precision, "grpo.precision"),
        gradient_checkpointing=cfg.model.gradient_checkpointing,
        model_init_kwargs=init_kwargs,
        trust_remote_code=cfg.model.trust_remote_code,
        disable_dropout=True,
        shuffle_dataset=False,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda_available(),
        logging_steps=1,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=cfg.save_every or cfg.steps,
        save_total_limit=None,  # rotated by ReplayGRPOTrainer after its atomic commit
        report_to=list(cfg.metrics.report_to) or "none",
        disable_tqdm=True,
        log_completions=False,
        **eval_kwargs,
    )


__all__ = ["MANAGED", "build_grpo_args", "check_passthrough", "model_dtype", "precision_flags"]
