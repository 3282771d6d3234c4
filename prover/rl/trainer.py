"""Online GRPO with error-correction replay, on TRL's ``GRPOTrainer``: ``run(cfg)``.

Each step has two streams: fresh problems (first attempts) and replay samples
(error-fix / retry turns on the policy's own recent failures, preserve turns on
its successes), mixed by the replay core at ``replay.ratio``. Every prompt gets
``grpo.num_generations`` samples; rewards (verdict x format, then risk-aware
shaping) become group-relative advantages and TRL's clipped loss.

TRL does the algorithm: generation (transformers or vLLM), advantages, the
clipped loss with separate low/high clip, KL, loss aggregation, gradient
accumulation, PEFT, DeepSpeed/accelerate, checkpoints. The replay side is split
by role (see docs/architecture_rl.md):

* ``problems``: the problem source (generator or any ``prover.data`` dataset);
* ``verifier_handle``: the verifier, started in the background;
* ``driver``: mixing, early verification, scoring, storing, metrics, state;
* ``grpo_trainer``: the ``GRPOTrainer`` subclass, TRL's hooks only;
* ``trl_compat``: every read of TRL's private API, version-checked;
* ``grpo_args``: ``GRPOConfig`` (derived fields + the ``trl:`` pass-through);
* ``callbacks``: stop on a signal, one metrics row per step;
* this module: ``run`` (build everything, train, clean up).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from prover.prompts import first_attempt
from prover.replay import ReplayCore
from prover.rl import checkpoint as ckpt_io
from prover.rl.callbacks import StepLogger, StopOnSignal
from prover.rl.config import ConfigError, TrainConfig, dump_yaml
from prover.rl.driver import ReplayDriver
from prover.rl.grpo_args import build_grpo_args, check_passthrough, cuda_available
from prover.rl.metrics import MetricsLogger
from prover.rl.problems import ProblemSource, load_problem_list
from prover.rl.rounds import VerifierReward
from prover.rl.trl_compat import check_versions, quiet_gradient_checkpointing_rename
from prover.rl.verifier_handle import NodeVerifier, VerifierHandle, make_verifier, needs_node_verifier
from prover.verifiers.base import Verifier


log = logging.getLogger(__name__)

@dataclass
class RunResult:
    run_dir: Path
    config_path: Path
    metrics_jsonl: Path
    tensorboard_dir: Path | None
    checkpoints: list[Path]
    replay_db: Path
    final_step: int
    resumed_from: Path | None
    elapsed_s: float
    last_metrics: dict[str, Any]

    def summary(self) -> str:
        lines = [
            f"run directory : {self.run_dir}",
            f"config        : {self.config_path}",
            f"metrics JSONL : {self.metrics_jsonl}",
            f"TensorBoard   : {self.tensorboard_dir or '(off)'}"
            + (f"   (tensorboard --logdir {self.tensorboard_dir})" if self.tensorboard_dir else ""),
            f"checkpoints   : {', '.join(str(c) for c in self.checkpoints) or '(none)'}",
            f"replay store  : {self.replay_db}",
            f"steps         : {self.final_step}" + (f" (resumed from {self.resumed_from})" if self.resumed_from else ""),
            f"wall time     : {self.elapsed_s / 60:.1f} min",
        ]
        return "\n".join(lines)


def resolve_run(cfg: TrainConfig) -> tuple[Path, Path | None]:
    """(run directory, checkpoint to resume from or None)."""
    if cfg.resume and cfg.resume != "auto":
        ckpt = ckpt_io.find_checkpoint(cfg.resume)
        if ckpt is None:
            raise ConfigError(f"resume={cfg.resume!r}: no complete checkpoint there (a run directory holds "
                              "checkpoint-<step>/ directories with prover_state/); start a new run instead")
        return ckpt_io.run_dir_of(ckpt), ckpt
    if cfg.output_dir:
        run_dir = Path(cfg.output_dir).expanduser().resolve()
    elif cfg.resume == "auto":
        raise ConfigError("resume=auto needs output_dir (the run directory to continue, or to start in)")
    else:
        run_dir = (Path("runs") / time.strftime("%Y%m%d-%H%M%S")).resolve()
    ckpt = ckpt_io.find_checkpoint(run_dir) if cfg.resume == "auto" and run_dir.exists() else None
    if ckpt is None and ckpt_io.list_checkpoints(run_dir):
        raise ConfigError(f"output_dir {run_dir} already holds checkpoints: continue it with --resume {run_dir} "
                          "(or --resume auto), or choose another output_dir")
    return run_dir, ckpt


def load_tokenizer(cfg: TrainConfig, model_path: str) -> Any:
    from transformers import AutoTokenizer

    from prover.policy.embedded import resolve_model

    path = resolve_model(cfg.model.tokenizer, cfg.model.cache_dir) if cfg.model.tokenizer else model_path
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=cfg.model.trust_remote_code)
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        raise ConfigError(f"the tokenizer of {cfg.model.name_or_path!r} has no chat template: use an instruct/chat "
                          "model, or set model.tokenizer to one that has a template")
    return tok


def lora_config(cfg: TrainConfig) -> Any:
    if not cfg.lora.enabled:
        return None
    from peft import LoraConfig

    targets: Any = cfg.lora.target_modules
    if targets == ["all-linear"]:
        targets = "all-linear"
    return LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                      target_modules=targets, task_type="CAUSAL_LM")


def slot_dataset(n: int) -> Any:
    """Placeholder rows, one per prompt of a step; ``ReplayGRPOTrainer`` fills them online."""
    from datasets import Dataset

    return Dataset.from_dict({"slot": list(range(n)), "prompt": [[{"role": "user", "content": ""}]] * n})


def eval_dataset(cfg: TrainConfig) -> Any:
    if not cfg.eval.source or not cfg.eval.every:
        return None
    from datasets import Dataset

    problems = load_problem_list(cfg.eval.source, cfg.eval.path, cfg.eval.split, cfg.domain, cfg.eval.limit,
                                 cfg.eval.columns)
    return Dataset.from_dict({
        "prompt": [first_attempt(p, few_shot=cfg.effective_few_shot) for p in problems],
        "problem_json": [json.dumps(p.to_json(), ensure_ascii=False) for p in problems],
    })


def warm_start(cfg: TrainConfig, base_path: str, handle: VerifierHandle, run_dir: Path | None,
               say: Callable[[str], None]) -> str:
    """The warm-started model RL starts from (built on first use with the run's own verifier, then cached)."""
    from prover.finetune.warm_default import ensure_warm_start

    cache_root = cfg.warm_start.cache_dir or str(Path(cfg.model.cache_dir).expanduser() / "warm_start")
    path, record = ensure_warm_start(base_path, cfg.warm_start, cache_root, handle.get, say)
    if run_dir is not None:
        ckpt_io.write_json_atomic(run_dir / "warm_start.json", {"model_dir": str(path), **record})
    return str(path)


def run(cfg: TrainConfig, *, model: Any = None, tokenizer: Any = None, verifier: Verifier | None = None,
        say: Callable[[str], None] = print, callbacks: Sequence[Any] = ()) -> RunResult:
    """Train as ``cfg`` says. ``model``/``tokenizer``/``verifier`` may be passed in (tests); a passed
    verifier is used as is and not closed. ``callbacks``: functions of the built trainer returning a
    ``transformers.TrainerCallback``, added after the trainer's own (bench/train_step.py measures with one)."""
    from accelerate import PartialState
    from transformers import PrinterCallback, ProgressCallback

    from prover.policy.embedded import resolve_model
    from prover.prompts import chat_token_counter
    from prover.rl.grpo_trainer import ReplayGRPOTrainer

    check_versions()  # before minutes of model loading and verifier start-up
    check_passthrough(cfg.trl)
    t_start = time.monotonic()
    run_dir, resume_ckpt = resolve_run(cfg)
    # cpu=True without CUDA, so several CPU processes (torchrun) form a gloo group, as TRL's Accelerator does
    dist = PartialState(cpu=not cuda_available())
    main = dist.is_main_process
    run_dir.mkdir(parents=True, exist_ok=True)
    if main:
        say(f"run directory: {run_dir} (config.yaml, metrics.jsonl, tb/, checkpoint-*/, replay.sqlite)")
    config_path = run_dir / "config.yaml"
    replay_cfg = cfg.replay_config(run_dir)
    resume_step = ckpt_io.checkpoint_step(resume_ckpt) if resume_ckpt else None
    if main:
        dump_yaml(dataclasses.replace(cfg, resume="", output_dir=str(run_dir)), config_path)
        ckpt_io.clean_staging(run_dir)
        if resume_ckpt is not None:
            backup = ckpt_io.replay_backup(resume_ckpt)
            if backup is not None and replay_cfg.db_path != ":memory:":
                ckpt_io.restore_sqlite(backup, replay_cfg.db_path)
            say(f"resuming {run_dir} from {resume_ckpt.name} (step {resume_step})")
    dist.wait_for_everyone()

    node: NodeVerifier | None = None
    if verifier is None and needs_node_verifier(cfg, dist.num_processes):
        node = NodeVerifier(cfg, dist, run_dir, say=say)  # one verifier per node, shared by its processes
    handle = VerifierHandle(node.verifier if node else (verifier or make_verifier(cfg)),
                            owned=verifier is None and node is None, say=say)
    replay: ReplayCore | None = None
    metrics: MetricsLogger | None = None
    trainer: Any = None
    driver: ReplayDriver | None = None
    try:
        if model is None:
            say(f"loading {cfg.model.name_or_path} ...")
            model_arg: Any = resolve_model(cfg.model.name_or_path, cfg.model.cache_dir)
            if cfg.warm_start_active:
                model_arg = warm_start(cfg, model_arg, handle, run_dir if main else None, say)
            tokenizer = tokenizer or load_tokenizer(cfg, model_arg)
        else:
            model_arg = model
            if tokenizer is None:
                raise ValueError("pass the tokenizer together with the model")
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
        source = ProblemSource(cfg) if main else None
        if source is not None and source.overlap_report is not None:
            from prover.data.decontam import write_report

            report = write_report(run_dir / "overlap_report.json", source.overlap_report)
            log.info("decontamination: kept %d of %d training statements (report: %s)",
                     source.overlap_report["kept"], source.overlap_report["train"], report)
        if main:
            replay = ReplayCore(replay_cfg, token_counter=chat_token_counter(tokenizer))
            metrics = MetricsLogger(run_dir, tensorboard=cfg.metrics.tensorboard, resume_step=resume_step)
        evalset = eval_dataset(cfg)
        args = build_grpo_args(cfg, run_dir, dist.num_processes, has_eval=evalset is not None)
        driver = ReplayDriver(cfg, handle, source, replay)
        with quiet_gradient_checkpointing_rename():
            trainer = ReplayGRPOTrainer(
                model=model_arg, args=args, train_dataset=slot_dataset(cfg.grpo.batch_size), eval_dataset=evalset,
                processing_class=tokenizer, peft_config=lora_config(cfg), driver=driver, reward=VerifierReward())
        if resume_ckpt is not None:
            driver.load_state_dict(ckpt_io.load_prover_state(resume_ckpt))
        for cb in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(cb)
        stop = StopOnSignal(say)
        trainer.add_callback(stop)
        step_logger = StepLogger(trainer, metrics, cfg.metrics.progress)
        trainer.add_callback(step_logger)
        for make_callback in callbacks:
            trainer.add_callback(make_callback(trainer))
        try:
            with quiet_gradient_checkpointing_rename():
                trainer.train(resume_from_checkpoint=str(resume_ckpt) if resume_ckpt else None)
        finally:
            stop.restore()
        final_step = trainer.state.global_step
        last = step_logger.last_row
    finally:
        if driver is not None:
            driver.close()
        if metrics is not None:
            metrics.close()
        if replay is not None:
            replay.close()
        handle.close()
        if node is not None:
            node.close()
    return RunResult(
        run_dir=run_dir, config_path=config_path, metrics_jsonl=run_dir / "metrics.jsonl",
        tensorboard_dir=run_dir / "tb" if cfg.metrics.tensorboard else None,
        checkpoints=ckpt_io.list_checkpoints(run_dir), replay_db=Path(replay_cfg.db_path),
        final_step=final_step, resumed_from=resume_ckpt, elapsed_s=time.monotonic() - t_start,
        last_metrics={k: v for k, v in last.items() if isinstance(v, (int, float)) and math.isfinite(v)})


__all__ = ["RunResult", "warm_start", "eval_dataset", "load_tokenizer", "lora_config", "resolve_run", "run", "slot_dataset"]
