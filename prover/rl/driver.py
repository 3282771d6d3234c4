"""The replay side of a GRPO step, independent of TRL's internals.

``ReplayDriver`` fills the step's slots with the replay core's mixed batch,
generates (on a GPU, the fresh stream first, verified while the correction
stream is generated; on CPU both in one call, see ``split_streams``), scores completions (``prover.rl.rewards`` format x verdict, shaped
once by ``prover.replay.shaping``), records the outcomes in the replay store,
builds the step's metrics row, and holds the resumable state. ``ReplayGRPOTrainer``
(``prover.rl.grpo_trainer``) calls it from TRL's hooks and does nothing else.
"""

from __future__ import annotations

import json
import logging
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from prover.replay import ReplayCore
from prover.replay.shaping import shaped_reward
from prover.rl.config import TrainConfig
from prover.rl.grpo_args import cuda_available
from prover.rl.metrics import CollapseDetector, Rollout, group_solve_rates, step_metrics
from prover.rl.problems import ProblemSource
from prover.rl.rewards import format_check, solved
from prover.rl.rounds import Round, Scored, completion_text
from prover.rl.trl_compat import completions_of, merge_generations
from prover.rl.verifier_handle import VerifierHandle
from prover.types import REPLAY_ORIGINS, Origin, Problem, Sample

log = logging.getLogger(__name__)


class ReplayDriver:
    """Everything a replay GRPO step does besides TRL's own work (see the module docstring)."""

    def __init__(self, prover_cfg: TrainConfig, verifier: VerifierHandle, source: ProblemSource | None,
                 replay: ReplayCore | None) -> None:
        self.prover_cfg = prover_cfg
        self.verifier_handle = verifier
        self.source = source  # main process only
        self.replay = replay  # main process only
        self.collapse = CollapseDetector(prover_cfg.metrics.collapse_window, prover_cfg.metrics.collapse_drop)
        self.round: Round | None = None
        self.pending_rounds: list[dict[str, Any]] = []  # finished rounds waiting for the step's log row
        self.rounds_done = 0
        self._all_error_rounds = 0
        self._verify_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="verify")
        self.phase_hook: Callable[[str], None] = lambda phase: None
        self.trainer: Any = None  # the GRPOTrainer (accelerator, state, model), set by attach()
        # the last training round's generation: prompt ids, completion ids, seconds (bench/train_step.py reads it)
        self.last_generation: dict[str, Any] = {}

    def attach(self, trainer: Any) -> None:
        self.trainer = trainer

    # -- slots -> mixed batch ---------------------------------------------------------------------
    def assign(self, slots: list[int]) -> dict[int, tuple[Sample, Problem]]:
        """Main process: the replay core's mixed batch for these slots (replay share, fresh rest)."""
        assert self.replay is not None and self.source is not None
        pool = self.source.pool(len(slots))
        batch = self.replay.next_batch(pool, len(slots), step=self.trainer.state.global_step)
        if not batch.samples:
            raise RuntimeError(
                "no training prompt fits: every candidate was dropped "
                f"({dict(self.replay.metrics.drops)}); raise grpo.max_prompt_tokens or lower few_shot")
        samples = list(batch.samples)
        if len(samples) < len(slots):  # a small fixed problem list: repeat prompts as separate groups
            log.warning("only %d prompts for %d slots; repeating prompts", len(samples), len(slots))
            samples = [samples[i % len(samples)] for i in range(len(slots))]
        return {slot: (s, batch.problem_of(s)) for slot, s in zip(slots, samples)}

    def fill_slots(self, inputs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
        from accelerate.utils import broadcast_object_list, gather_object

        slots = [int(x["slot"]) for x in inputs]
        multi = self.trainer.accelerator.num_processes > 1
        every = sorted(set(gather_object(slots) if multi else slots))
        payload: list[Any] = [None]
        if self.trainer.accelerator.is_main_process:
            assignment = self.assign(every)
            n_replay = sum(1 for s, _ in assignment.values() if s.origin in REPLAY_ORIGINS)
            payload = [(assignment, n_replay / max(1, len(assignment)))]
        if multi:
            broadcast_object_list(payload, from_process=0)
        assignment, ratio = payload[0]
        rows = []
        for slot in slots:
            sample, problem = assignment[slot]
            rows.append({"prompt": sample.messages(), "slot": slot, "sample": sample, "problem": problem})
        return rows, ratio

    @staticmethod
    def eval_rows(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for x in inputs:
            problem = Problem.from_json(json.loads(x["problem_json"]))
            sample = Sample(problem_id=problem.id, prompt_messages=tuple(x["prompt"]), origin=Origin.EVAL)
            rows.append({"prompt": x["prompt"], "slot": zlib.crc32(problem.id.encode()), "sample": sample,
                         "problem": problem})
        return rows

    def begin_round(self, inputs: list[dict[str, Any]], training: bool) -> list[dict[str, Any]]:
        """The rows TRL generates for (the mixed batch when training) and a new current round."""
        ratio = 0.0
        if training:
            self.phase_hook("mixing")
            inputs, ratio = self.fill_slots(inputs)
        else:
            inputs = self.eval_rows(inputs)
        self.round = Round(inputs, training)
        self.round.replay_ratio = ratio
        self.round.started = time.perf_counter()
        return inputs

    # -- generation: fresh stream first, verified while the correction stream generates ---------------
    def generate(self, rnd: Round, prompts: list, generate: Callable[[list], tuple]) -> tuple:
        """TRL's ``_generate`` (``generate``), fresh stream first, verified while the correction stream generates."""
        t0 = time.perf_counter()
        out = None
        try:
            out = self._generate_streams(rnd, prompts, generate)
            return out
        finally:
            seconds = time.perf_counter() - t0
            rnd.generation_s += seconds
            if out is not None and rnd.training:
                self.last_generation = {"prompt_ids": out[0], "completion_ids": out[1], "seconds": seconds}

    def split_streams(self) -> bool:
        """Generate the fresh stream and the correction stream in two calls, verifying the first meanwhile?

        Only on a GPU: there the verifier's CPUs are idle while the GPU generates. On CPU the two calls
        cost about twice one call of the whole batch (a decode step reads all weights whatever the batch
        size), and the verifier competes with generation for the same cores.
        """
        return (self.prover_cfg.verify_early and self.trainer.accelerator.num_processes == 1
                and cuda_available())

    def _generate_streams(self, rnd: Round, prompts: list, generate: Callable[[list], tuple]) -> tuple:
        early = self.split_streams()

        def verify_soon(idx: list[int], out: tuple) -> None:
            # the verifier is awaited only here, so its start-up (minutes for wasm Lean) overlaps generation
            rnd.submit(self._verify_pool, self.verifier_handle.get(), idx, [completion_text(c) for c in completions_of(out)])

        fresh = [i for i, r in enumerate(rnd.rows) if r["sample"].origin not in REPLAY_ORIGINS]
        replay = [i for i, r in enumerate(rnd.rows) if r["sample"].origin in REPLAY_ORIGINS]
        if not early or not fresh or not replay:
            self.phase_hook("generating")
            out = generate(prompts)
            if early:
                verify_soon(list(range(len(prompts))), out)
            self.phase_hook("verifying")
            return out
        self.phase_hook("generating fresh")
        out_f = generate([prompts[i] for i in fresh])
        verify_soon(fresh, out_f)
        self.phase_hook("generating corrections (verifying fresh)")
        out_c = generate([prompts[i] for i in replay])
        verify_soon(replay, out_c)
        self.phase_hook("verifying")
        return merge_generations(out_f, out_c, fresh, replay, len(prompts))

    # -- reward ---------------------------------------------------------------------------------------------
    def score(self, completions: list, completion_ids: list, samples: list[Sample],
              problems: list[Problem]) -> list[float | None]:
        rnd = self.round
        if rnd is None:  # called outside a round (should not happen): score without early verification
            rnd = Round([{"sample": s, "problem": p} for s, p in zip(samples, problems)], self.trainer.model.training)
            self.round = rnd
        verifier = self.verifier_handle.get()
        texts = [completion_text(c) for c in completions]
        t0 = time.perf_counter()
        verdicts = rnd.collect(verifier, problems, texts)
        rnd.wait_s += time.perf_counter() - t0
        cfg = self.prover_cfg
        penalty = cfg.replay.correct_to_wrong_penalty
        rewards: list[float | None] = []
        for i, (sample, problem, text, verdict) in enumerate(zip(samples, problems, texts, verdicts)):
            fmt = format_check(problem, text, cfg.format)
            reward = shaped_reward(sample, verdict, penalty, fmt.score)
            rewards.append(reward)
            level = problem.meta.get("level")
            rollout = Rollout(
                group=int(rnd.rows[i].get("slot", i)) if i < len(rnd.rows) else i,
                origin=sample.origin, reward=reward, solved=solved(verdict, fmt), status=verdict.status.value,
                input_was_correct=sample.input_was_correct, feedback_over_cap=verdict.feedback_over_cap,
                tokens=len(completion_ids[i]) if i < len(completion_ids) else 0,
                level=int(level) if isinstance(level, int) else None, problem_id=problem.id)
            rnd.scored.append(Scored(sample, problem, text, verdict, rollout))
        return rewards

    # -- after scoring: store, difficulty, metrics ---------------------------------------------------------
    def finish_round(self, rnd: Round) -> None:
        from accelerate.utils import gather_object

        local = [(s.sample, s.problem, s.text, s.verdict, s.rollout) for s in rnd.scored]
        waits = [rnd.wait_s]
        if self.trainer.accelerator.num_processes > 1:
            local = gather_object(local)
            waits = gather_object(waits)
        if not self.trainer.accelerator.is_main_process:
            return
        rollouts = [x[4] for x in local]
        errors = sum(r.status == "error" for r in rollouts)
        if rollouts and errors == len(rollouts):
            self._all_error_rounds += 1
            log.warning("every verification of this batch was an infrastructure error (%s)",
                        local[0][3].feedback[:200])
            if self._all_error_rounds >= 3:
                raise RuntimeError("the verifier failed on 3 batches in a row; see the log for its error")
        else:
            self._all_error_rounds = 0
        info: dict[str, Any] = {"rollouts": rollouts, "verifier_wait_s": max(waits) if waits else 0.0,
                                "replay_ratio": rnd.replay_ratio, "training": rnd.training,
                                "generation_s": rnd.generation_s,
                                "round_s": time.perf_counter() - rnd.started if rnd.started else 0.0}
        if rnd.training and self.replay is not None:
            self.replay.record([x[0] for x in local], [x[1] for x in local], [x[2] for x in local],
                               [x[3] for x in local], step=self.trainer.state.global_step)
            if self.source is not None:
                moved = self.source.observe(rollouts)
                if moved is not None:
                    log.info("difficulty: level %d", moved)
                info["level"] = self.source.level
            self.rounds_done += 1
        self.pending_rounds.append(info)

    def pop_step_row(self, step_time_s: float, training: bool = True) -> dict[str, Any]:
        """Metrics row of the rounds finished since the last call (main process)."""
        rounds = [r for r in self.pending_rounds if r["training"] == training]
        self.pending_rounds = [r for r in self.pending_rounds if r["training"] != training]
        if not rounds:
            return {}
        rollouts = [x for r in rounds for x in r["rollouts"]]
        wait = sum(r["verifier_wait_s"] for r in rounds)
        ratio = sum(r["replay_ratio"] for r in rounds) / len(rounds)
        if not training:
            p1, pn, n = group_solve_rates([r for r in rollouts if r.status != "error"])
            return {"eval/solve_rate/sample": p1, "eval/solve_rate/any_in_group": pn, "eval/problems": float(n)}
        row: dict[str, Any] = step_metrics(rollouts, replay_ratio=ratio, step_time_s=step_time_s,
                                           verifier_wait_s=wait)
        generation = sum(r["generation_s"] for r in rounds)
        in_rounds = sum(r["round_s"] for r in rounds)  # batch mixing, generation, verifier wait, scoring
        row["time/generation_s"] = generation
        row["time/verifier_wait_s"] = wait
        row["time/training_s"] = max(0.0, step_time_s - in_rounds)  # TRL's loss, backward and optimizer step
        row["time/other_s"] = max(0.0, in_rounds - generation - wait)  # mixing, scoring, storing
        if rounds[-1].get("level") is not None:
            row["difficulty/level"] = float(rounds[-1]["level"])
        if self.replay is not None:
            row.update({k: v for k, v in self.replay.metrics.as_dict().items() if isinstance(v, (int, float))})
        warning = self.collapse.update(row["diversity_gap"], row["solve_rate/any_in_group"])
        row["collapse_warning"] = 1.0 if warning else 0.0
        if warning:
            log.warning(warning)
            row["collapse_message"] = warning
        return row

    # -- checkpoints -------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"step": self.trainer.state.global_step, "rounds": self.rounds_done,
                                 "collapse": self.collapse.state_dict()}
        if self.source is not None:
            state["source"] = self.source.state_dict()
        if self.replay is not None:
            state["replay"] = self.replay.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rounds_done = int(state.get("rounds", 0))
        self.collapse.load_state_dict(state.get("collapse", {}))
        if self.source is not None:
            self.source.load_state_dict(state.get("source", {}))
        if self.replay is not None:
            self.replay.load_state_dict(state.get("replay") or {
                "mixer_rng": state.get("mixer_rng"), "metrics": state.get("replay_metrics", {})})  # older checkpoints

    def close(self) -> None:
        self._verify_pool.shutdown(wait=False, cancel_futures=True)


__all__ = ["ReplayDriver"]
