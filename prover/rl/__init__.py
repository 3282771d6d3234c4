"""RL training with error-correction replay: GRPO on TRL, fed online by the replay core.

    from prover.rl import load_config, run
    result = run(load_config("configs/default.yaml", ["--steps", "2"]))
    print(result.summary())

``config`` (TrainConfig and its loader), ``rewards`` (format reward, shaping),
``metrics`` (per-step metrics, TensorBoard + JSONL, collapse warning),
``checkpoint`` (atomic checkpoints, replay store backup, resume) and the trainer
split by role (``trainer.run``; see its docstring; imported lazily, it pulls in TRL).
"""

from __future__ import annotations

from typing import Any

from prover.rl.config import ConfigError, TrainConfig, config_from_argv, load_config
from prover.rl.metrics import STEP_KEYS, CollapseDetector, MetricsLogger
from prover.rl.rewards import FormatResult, format_check

# name -> module (imported lazily: these pull in TRL)
_LAZY = {"run": "trainer", "RunResult": "trainer", "ReplayGRPOTrainer": "grpo_trainer", "ProblemSource": "problems",
         "VerifierReward": "rounds", "build_grpo_args": "grpo_args"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"prover.rl.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'prover.rl' has no attribute {name!r}")


__all__ = [
    "STEP_KEYS",
    "CollapseDetector",
    "ConfigError",
    "FormatResult",
    "MetricsLogger",
    "ProblemSource",
    "ReplayGRPOTrainer",
    "RunResult",
    "TrainConfig",
    "VerifierReward",
    "build_grpo_args",
    "config_from_argv",
    "format_check",
    "load_config",
    "run",
]
