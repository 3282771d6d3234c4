"""``ReplayGRPOTrainer``: TRL's ``GRPOTrainer`` with the replay core plugged into five hooks, and nothing else.

* ``_generate_and_score_completions``: the dataset holds placeholder *slots*;
  before TRL generates, ``ReplayDriver.begin_round`` fills the batch's slots with
  the replay core's mixed batch (built online from the store, so no static
  dataset can hold it); after scoring, ``finish_round`` stores the outcomes;
* ``_generate``: ``ReplayDriver.generate`` runs TRL's generation (on a GPU the
  fresh stream first, verified while the correction stream is generated), with
  rollouts stopped at the answer block's closing fence when
  ``grpo.stop_at_answer_end`` is on (``prover.rl.stopping``) and each distinct prompt
  prefilled once when ``grpo.share_prefill`` is on (``prover.policy.prefill``);
* ``_get_per_token_logps_and_entropies``: with ``grpo.share_prefill`` on, the loss's forward
  pass runs each distinct prompt once per micro-batch (``prover.policy.prefill``);
* ``_save_checkpoint`` / ``_get_output_dir``: TRL's checkpoint is written into a
  staging directory, the replay store and driver state are added, and the
  directory is committed atomically (``prover.rl.checkpoint``).

The hooks are private TRL API: ``prover.rl.trl_compat`` names them and checks
the installed version before a trainer is built.
"""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Any

from trl import GRPOTrainer

from prover.policy.prefill import shared_prefix_logps
from prover.policy.threads import generation_threads, torch_threads
from prover.rl import checkpoint as ckpt_io
from prover.rl.driver import ReplayDriver
from prover.rl.rounds import VerifierReward
from prover.rl.grpo_args import cuda_available
from prover.rl.stopping import STOP_DOMAINS, AnswerEndStop, backtick_token_ids, stop_supported
from prover.rl.trl_compat import check_versions, generate_with

log = logging.getLogger(__name__)


def _cpu_switch(mode: str) -> bool:
    """An auto/on/off speed switch: auto is on without a GPU (a GPU run computes what it always did)."""
    return mode == "on" or (mode == "auto" and not cuda_available())


class ReplayGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose batches come online from the replay core (see the module docstring)."""

    def __init__(self, *args: Any, driver: ReplayDriver, reward: VerifierReward, **kwargs: Any) -> None:
        check_versions()
        super().__init__(*args, reward_funcs=[reward], **kwargs)
        self.driver = driver
        driver.attach(self)
        reward.driver = driver
        self._staging_dir: Path | None = None
        self._fence_ids: frozenset[int] | None = None
        self.stop_at_answer_end = self._stop_at_answer_end()
        self.share_prefill = self._share_prefill()
        # torch threads while generating on CPU (0 on a GPU: untouched)
        self.generation_threads = 0 if cuda_available() else generation_threads(
            self.driver.prover_cfg.model.generation_threads)

    def _stop_at_answer_end(self) -> bool:
        cfg = self.driver.prover_cfg
        if not _cpu_switch(cfg.grpo.stop_at_answer_end) or cfg.domain not in STOP_DOMAINS:
            return False
        if self.use_vllm or self.use_transformers_continuous_batching:
            log.warning("grpo.stop_at_answer_end needs transformers' generate; vLLM / continuous batching "
                        "generate to their own limits")
            return False
        if not stop_supported(self._tokenizer.pad_token_id, self.eos_token_ids):
            log.warning("grpo.stop_at_answer_end is off: the pad token %r is not an end-of-sequence token, so a "
                        "stopped rollout's padding would be trained on", self._tokenizer.pad_token)
            return False
        self._fence_ids = backtick_token_ids(self._tokenizer)
        return True

    def _share_prefill(self) -> bool:
        if not _cpu_switch(self.driver.prover_cfg.grpo.share_prefill):
            return False
        if self.use_vllm or self.use_transformers_continuous_batching:
            return False  # their own prefix caching
        return True

    def _get_per_token_logps_and_entropies(self, model: Any, input_ids: Any, attention_mask: Any, logits_to_keep: int,
                                           batch_size: int | None = None, compute_entropy: bool = False,
                                           compute_aux_loss: bool = False, **multimodal: Any) -> tuple:
        """TRL's log-probs, with each distinct prompt's forward pass run once (``grpo.share_prefill``)."""
        if (self.share_prefill and not compute_aux_loss and not self.args.gradient_checkpointing
                and all(v is None for v in multimodal.values())):
            got = shared_prefix_logps(model, input_ids, attention_mask, logits_to_keep, compute_entropy=compute_entropy,
                                      batch_size=batch_size, autocast=self.accelerator.autocast)
            if got is not None:
                return (*got, None)
        return super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, batch_size=batch_size, compute_entropy=compute_entropy,
            compute_aux_loss=compute_aux_loss, **multimodal)

    def _answer_end_stop(self, input_ids: Any) -> list[AnswerEndStop]:
        return [AnswerEndStop(self._tokenizer, int(input_ids.shape[1]), self._fence_ids)]

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        rows = self.driver.begin_round(inputs, training=self.model.training)
        try:
            out = super()._generate_and_score_completions(rows)
            self.driver.finish_round(self.driver.round)
        finally:
            self.driver.round = None
        self.driver.phase_hook("training")
        return out

    def generation_context(self) -> contextlib.ExitStack:
        """What generation runs under on CPU: ``model.generation_threads`` torch threads and, with bf16
        mixed precision, one autocast region around the whole call, so that each weight is cast to bf16
        once per call instead of once per decode step (accelerate's per-forward autocast alone recasts every
        weight at every step). On a GPU: nothing (a GPU run generates as it always did)."""
        stack = contextlib.ExitStack()
        if not cuda_available():
            stack.enter_context(torch_threads(self.generation_threads))
            if self.args.bf16:
                stack.enter_context(self.accelerator.autocast())
        return stack

    def _generate(self, prompts: list) -> tuple:
        with self.generation_context():
            rnd = self.driver.round
            if rnd is None or self.tools or self.rollout_func is not None:
                return super()._generate(prompts)
            criteria = self._answer_end_stop if self.stop_at_answer_end else None
            patch = (generate_with(self.accelerator.unwrap_model(self.model_wrapped), criteria,
                                   share_prefill=self.share_prefill)
                     if criteria is not None or self.share_prefill else contextlib.nullcontext())
            with patch:
                return self.driver.generate(rnd, prompts, super()._generate)

    def _get_output_dir(self, trial: Any) -> str:
        if self._staging_dir is not None:
            return str(self._staging_dir)
        return super()._get_output_dir(trial)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        run_dir = Path(self.args.output_dir)
        stage = ckpt_io.staging_root(run_dir)
        if self.accelerator.is_main_process:
            ckpt_io.clean_staging(run_dir)
        self.accelerator.wait_for_everyone()
        self._staging_dir = stage
        self.driver.phase_hook("saving checkpoint")
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_dir = None
        name = f"{ckpt_io.PREFIX}{self.state.global_step}"
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            replay = self.driver.replay
            db = replay.cfg.db_path if replay is not None else None
            ckpt_io.save_prover_state(stage / name, self.driver.state_dict(), db)
            ckpt_io.commit(stage / name, run_dir / name)
            ckpt_io.rotate(run_dir, self.driver.prover_cfg.save_total_limit)
            ckpt_io.clean_staging(run_dir)
        self.accelerator.wait_for_everyone()


__all__ = ["ReplayGRPOTrainer"]
