"""Online GRPO with error-correction replay, on TRL's ``GRPOTrainer``.

Each step has two streams: fresh problems (first attempts) and replay samples
(error-fix / retry turns on the policy's own recent failures, preserve turns on
its successes), mixed by the replay core at ``replay.ratio``. Every prompt gets
``grpo.num_generations`` samples; rewards (verdict x format, then risk-aware
shaping) become group-relative advantages and TRL's clipped loss.

TRL does the algorithm: generation (transformers or vLLM), advantages, the
clipped loss with separate low/high clip, KL, loss aggregation, gradient
accumulation, PEFT, DeepSpeed/accelerate, checkpoints. ``ReplayGRPOTrainer``
subclasses it at three narrow hooks (see docs/architecture_rl.md):

* ``_generate_and_score_completions``: the dataset holds placeholder *slots*;
  before TRL generates, the slots of the batch are filled with the replay core's
  mixed batch (built online from the store, so no static dataset can hold it),
  and after scoring the outcomes go back into the store;
* ``_generate``: generates the fresh stream first and starts verifying it while
  the correction stream is generated (verification overlaps generation);
* ``_save_checkpoint``: adds the replay store and sampler state to TRL's
  checkpoint and writes the directory atomically.

The reward function itself is an ordinary TRL reward function.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import signal
import threading
import time
import warnings
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import torch
from transformers import TrainerCallback
from trl import GRPOConfig, GRPOTrainer

from prover.rl.problems import ProblemSource, load_problem_list
from prover.prompts import first_attempt
from prover.replay import ReplayCore
from prover.rl import checkpoint as ckpt_io
from prover.rl.config import ConfigError, TrainConfig, dump_yaml
from prover.rl.metrics import CollapseDetector, MetricsLogger, Rollout, pass_at, step_metrics
from prover.replay.shaping import shaped_reward
from prover.rl.rewards import format_check, solved
from prover.types import Problem, Sample, Verdict
from prover.verifiers.base import Verifier

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_gradient_checkpointing_rename() -> Iterator[None]:
    """Silence the FutureWarnings of transformers' gradient-checkpointing rename.

    TRL 1.16 still uses the old names (GRPOConfig sets ``gradient_checkpointing``, the trainer reads
    the model's ``is_gradient_checkpointing`` every step); the warnings say nothing a user can act on.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*gradient_checkpointing.*", category=FutureWarning)
        yield

REPLAY_ORIGINS = ("fix", "retry", "preserve")


# -- verifier --------------------------------------------------------------------------------
def make_verifier(cfg: TrainConfig) -> Verifier:
    """The domain's verifier, not yet started (Lean starts in the background, see ``VerifierHandle``)."""
    if cfg.domain == "lean":
        from prover.verifiers.lean import LeanVerifier

        return LeanVerifier(cfg.lean, start=False)
    import sys

    from prover.verifiers import verifier_class

    cls = verifier_class(cfg.domain)
    config_cls = getattr(sys.modules[cls.__module__], f"{cls.__name__}Config", None)
    if config_cls is None:
        if cfg.verifier:
            raise ConfigError(f"verifier options {sorted(cfg.verifier)} given, but {cls.__name__} takes no config")
        return cls()
    try:
        return cls(config_cls(**cfg.verifier))
    except TypeError as e:
        raise ConfigError(f"verifier: {e}; valid keys: {sorted(getattr(config_cls, '__dataclass_fields__', {}))}") from None


class VerifierHandle:
    """A verifier started in a background thread (wasm Lean needs minutes); ``get()`` waits, with progress."""

    def __init__(self, verifier: Verifier, *, owned: bool, say: Callable[[str], None] = print) -> None:
        self.verifier = verifier
        self.owned = owned
        self.say = say
        self.error: BaseException | None = None
        self.started_at = time.monotonic()
        self._ready = threading.Event()
        if callable(getattr(verifier, "start", None)):  # start() is idempotent: a running verifier returns at once
            if owned:
                slow = verifier.domain == "lean" and getattr(getattr(verifier, "config", None), "backend", "") == "wasm"
                say(f"starting the {verifier.domain} verifier in the background"
                    + (" (wasm Lean: about 3-4 minutes; the model loads meanwhile)" if slow else "") + " ...")
            threading.Thread(target=self._start, name="verifier-start", daemon=True).start()
        else:
            self._ready.set()

    def _start(self) -> None:
        try:
            self.verifier.start()  # type: ignore[attr-defined]
            if self.owned:
                self.say(f"{self.verifier.domain} verifier ready after {time.monotonic() - self.started_at:.0f}s")
        except BaseException as e:  # noqa: BLE001 - re-raised in get()
            self.error = e
        finally:
            self._ready.set()

    def get(self) -> Verifier:
        """The started verifier; while it is still starting, says so every 30 seconds."""
        while not self._ready.wait(30.0):
            self.say(f"waiting for the {self.verifier.domain} verifier to start "
                     f"({time.monotonic() - self.started_at:.0f}s since launch) ...")
        if self.error is not None:
            raise RuntimeError(f"the {self.verifier.domain} verifier failed to start: {self.error}") from self.error
        return self.verifier

    def close(self) -> None:
        if self.owned:
            self._ready.wait(60.0)
            self.verifier.close()


# -- one generation round -----------------------------------------------------------------------
@dataclass
class Scored:
    """One completion after scoring (local to this process until gathered)."""

    sample: Sample
    problem: Problem
    text: str
    verdict: Verdict  # the verifier's verdict, as it gave it
    rollout: Rollout


class Round:
    """The rows of one generation batch, their pending verifications and scores."""

    def __init__(self, rows: list[dict[str, Any]], training: bool) -> None:
        self.rows = rows
        self.training = training
        self.pending: list[tuple[list[int], list[str], Future]] = []
        self.wait_s = 0.0
        self.scored: list[Scored] = []
        self.replay_ratio = 0.0
        self.generation_s = 0.0  # time inside TRL's generation

    def submit(self, pool: ThreadPoolExecutor, verifier: Verifier, idx: list[int], texts: list[str]) -> None:
        problems = [self.rows[i]["problem"] for i in idx]
        self.pending.append((idx, texts, pool.submit(verifier.verify, problems, texts)))

    def collect(self, verifier: Verifier, problems: Sequence[Problem], texts: Sequence[str]) -> list[Verdict]:
        """Verdicts for ``texts`` (row order): from verifications started early, the rest now."""
        out: list[Verdict | None] = [None] * len(texts)
        for idx, sent, fut in self.pending:
            try:
                verdicts = fut.result()
            except Exception as e:  # noqa: BLE001 - a broken verifier call becomes error verdicts
                log.exception("verification failed")
                verdicts = [Verdict.infra_error(f"verifier failure: {e}")] * len(idx)
            for i, text, verdict in zip(idx, sent, verdicts):
                if i < len(texts) and texts[i] == text:
                    out[i] = verdict
        missing = [i for i, v in enumerate(out) if v is None]
        if missing:
            try:
                got = verifier.verify([problems[i] for i in missing], [texts[i] for i in missing])
            except Exception as e:  # noqa: BLE001
                log.exception("verification failed")
                got = [Verdict.infra_error(f"verifier failure: {e}")] * len(missing)
            for i, verdict in zip(missing, got):
                out[i] = verdict
        return out  # type: ignore[return-value]


def completion_text(completion: Any) -> str:
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion:
        last = completion[-1]
        content = last.get("content", "") if isinstance(last, dict) else last
        if isinstance(content, list):  # content blocks
            return "".join(part.get("text", "") for part in content if isinstance(part, dict))
        return str(content)
    return ""


class VerifierReward:
    """TRL reward function: verifier verdict x format reward, with replay shaping (None on infra errors)."""

    __name__ = "verifier_x_format"

    def __init__(self) -> None:
        self.trainer: ReplayGRPOTrainer | None = None

    def __call__(self, prompts: list, completions: list, completion_ids: list, **kwargs: Any) -> list[float | None]:
        if self.trainer is None:
            raise RuntimeError("VerifierReward is not attached to a ReplayGRPOTrainer")
        return self.trainer.score(completions, completion_ids, kwargs["sample"], kwargs["problem"])


def _rng_state(rng: Any) -> list[Any]:
    version, internal, gauss = rng.getstate()
    return [version, list(internal), gauss]


def _set_rng_state(rng: Any, state: Sequence[Any]) -> None:
    rng.setstate((state[0], tuple(state[1]), state[2]))


def _counter_state(obj: Any) -> dict[str, Any]:
    out = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        out[f.name] = dict(value) if isinstance(value, dict) else value
    return out


def _load_counter_state(obj: Any, state: dict[str, Any]) -> None:
    for name, value in state.items():
        if not hasattr(obj, name):
            continue
        current = getattr(obj, name)
        if isinstance(current, dict):  # update in place: Counters are shared with the sample builder
            current.clear()
            current.update(value)
        else:
            setattr(obj, name, value)


# -- the trainer -------------------------------------------------------------------------------
class ReplayGRPOTrainer(GRPOTrainer):
    """``GRPOTrainer`` whose batches come online from the replay core (see module docstring)."""

    def __init__(self, *args: Any, prover_cfg: TrainConfig, verifier: VerifierHandle, source: ProblemSource | None,
                 replay: ReplayCore | None, reward: VerifierReward, **kwargs: Any) -> None:
        super().__init__(*args, reward_funcs=[reward], **kwargs)
        reward.trainer = self
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
        self._staging_dir: Path | None = None
        self.phase_hook: Callable[[str], None] = lambda phase: None

    # -- slots -> mixed batch ---------------------------------------------------------------------
    def _assign(self, slots: list[int]) -> dict[int, tuple[Sample, Problem]]:
        """Main process: the replay core's mixed batch for these slots (replay share, fresh rest)."""
        assert self.replay is not None and self.source is not None
        pool = self.source.pool(len(slots))
        batch = self.replay.next_batch(pool, len(slots), step=self.state.global_step)
        if not batch.samples:
            raise RuntimeError(
                "no training prompt fits: every candidate was dropped "
                f"({dict(self.replay.metrics.drops)}); raise grpo.max_prompt_tokens or lower few_shot")
        samples = list(batch.samples)
        if len(samples) < len(slots):  # a small fixed problem list: repeat prompts as separate groups
            log.warning("only %d prompts for %d slots; repeating prompts", len(samples), len(slots))
            samples = [samples[i % len(samples)] for i in range(len(slots))]
        return {slot: (s, batch.problem_of(s)) for slot, s in zip(slots, samples)}

    def _fill_slots(self, inputs: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], float]:
        from accelerate.utils import broadcast_object_list, gather_object

        slots = [int(x["slot"]) for x in inputs]
        multi = self.accelerator.num_processes > 1
        every = sorted(set(gather_object(slots) if multi else slots))
        payload: list[Any] = [None]
        if self.accelerator.is_main_process:
            assignment = self._assign(every)
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
    def _eval_rows(inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rows = []
        for x in inputs:
            problem = Problem.from_json(json.loads(x["problem_json"]))
            sample = Sample(problem_id=problem.id, prompt_messages=tuple(x["prompt"]), origin="eval")
            rows.append({"prompt": x["prompt"], "slot": zlib.crc32(problem.id.encode()), "sample": sample,
                         "problem": problem})
        return rows

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> dict[str, Any]:
        training = self.model.training
        ratio = 0.0
        if training:
            self.phase_hook("mixing")
            inputs, ratio = self._fill_slots(inputs)
        else:
            inputs = self._eval_rows(inputs)
        self.round = Round(inputs, training)
        self.round.replay_ratio = ratio
        try:
            out = super()._generate_and_score_completions(inputs)
            self._finish_round(self.round)
        finally:
            self.round = None
        self.phase_hook("training")
        return out

    # -- generation: fresh stream first, verified while the correction stream generates ---------------
    def _generate(self, prompts: list) -> tuple:
        rnd = self.round
        if rnd is None or self.tools or self.rollout_func is not None:
            return super()._generate(prompts)
        t0 = time.perf_counter()
        try:
            return self._generate_streams(rnd, prompts)
        finally:
            rnd.generation_s += time.perf_counter() - t0

    def _generate_streams(self, rnd: Round, prompts: list) -> tuple:
        early = self.prover_cfg.verify_early and self.accelerator.num_processes == 1

        def verify_soon(idx: list[int], out: tuple) -> None:
            # the verifier is awaited only here, so its start-up (minutes for wasm Lean) overlaps generation
            rnd.submit(self._verify_pool, self.verifier_handle.get(), idx, [completion_text(c) for c in out[3]])

        fresh = [i for i, r in enumerate(rnd.rows) if r["sample"].origin not in REPLAY_ORIGINS]
        replay = [i for i, r in enumerate(rnd.rows) if r["sample"].origin in REPLAY_ORIGINS]
        if not early or not fresh or not replay:
            self.phase_hook("generating")
            out = super()._generate(prompts)
            if early:
                verify_soon(list(range(len(prompts))), out)
            self.phase_hook("verifying")
            return out
        self.phase_hook("generating fresh")
        out_f = super()._generate([prompts[i] for i in fresh])
        verify_soon(fresh, out_f)
        self.phase_hook("generating corrections (verifying fresh)")
        out_c = super()._generate([prompts[i] for i in replay])
        verify_soon(replay, out_c)
        self.phase_hook("verifying")
        return _merge_generations(out_f, out_c, fresh, replay, len(prompts))

    # -- reward -------------------------------------------------------------------------------------
    def score(self, completions: list, completion_ids: list, samples: list[Sample],
              problems: list[Problem]) -> list[float | None]:
        rnd = self.round
        if rnd is None:  # called outside a round (should not happen): score without early verification
            rnd = Round([{"sample": s, "problem": p} for s, p in zip(samples, problems)], self.model.training)
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
    def _finish_round(self, rnd: Round) -> None:
        from accelerate.utils import gather_object

        local = [(s.sample, s.problem, s.text, s.verdict, s.rollout) for s in rnd.scored]
        waits = [rnd.wait_s]
        if self.accelerator.num_processes > 1:
            local = gather_object(local)
            waits = gather_object(waits)
        if not self.accelerator.is_main_process:
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
                                "generation_s": rnd.generation_s}
        if rnd.training and self.replay is not None:
            self.replay.record([x[0] for x in local], [x[1] for x in local], [x[2] for x in local],
                               [x[3] for x in local], step=self.state.global_step)
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
            p1, pn, n = pass_at([r for r in rollouts if r.status != "error"])
            return {"eval/pass@1": p1, "eval/pass@n": pn, "eval/problems": float(n)}
        row: dict[str, Any] = step_metrics(rollouts, replay_ratio=ratio, step_time_s=step_time_s,
                                           verifier_wait_s=wait)
        generation = sum(r["generation_s"] for r in rounds)
        row["time/generation_s"] = generation
        row["time/other_s"] = max(0.0, step_time_s - generation - wait)  # mostly the optimisation
        if rounds[-1].get("level") is not None:
            row["difficulty/level"] = float(rounds[-1]["level"])
        if self.replay is not None:
            row.update({k: v for k, v in self.replay.metrics.as_dict().items() if isinstance(v, (int, float))})
        warning = self.collapse.update(row["pass_gap"], row["pass@n"])
        row["collapse_warning"] = 1.0 if warning else 0.0
        if warning:
            log.warning(warning)
            row["collapse_message"] = warning
        return row

    # -- checkpoints -------------------------------------------------------------------------------------
    def prover_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"step": self.state.global_step, "rounds": self.rounds_done,
                                 "collapse": self.collapse.state_dict()}
        if self.source is not None:
            state["source"] = self.source.state_dict()
        if self.replay is not None:
            state["mixer_rng"] = _rng_state(self.replay.mixer.rng)
            state["replay_metrics"] = _counter_state(self.replay.metrics)
        return state

    def load_prover_state(self, state: dict[str, Any]) -> None:
        self.rounds_done = int(state.get("rounds", 0))
        self.collapse.load_state_dict(state.get("collapse", {}))
        if self.source is not None:
            self.source.load_state_dict(state.get("source", {}))
        if self.replay is not None:
            if "mixer_rng" in state:
                _set_rng_state(self.replay.mixer.rng, state["mixer_rng"])
            _load_counter_state(self.replay.metrics, state.get("replay_metrics", {}))

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
        self.phase_hook("saving checkpoint")
        try:
            super()._save_checkpoint(model, trial)
        finally:
            self._staging_dir = None
        name = f"{ckpt_io.PREFIX}{self.state.global_step}"
        self.accelerator.wait_for_everyone()
        if self.accelerator.is_main_process:
            db = self.replay.cfg.db_path if self.replay is not None else None
            ckpt_io.save_prover_state(stage / name, self.prover_state(), db)
            ckpt_io.commit(stage / name, run_dir / name)
            ckpt_io.rotate(run_dir, self.prover_cfg.save_total_limit)
            ckpt_io.clean_staging(run_dir)
        self.accelerator.wait_for_everyone()

    def close(self) -> None:
        self._verify_pool.shutdown(wait=False, cancel_futures=True)


def _merge_generations(a: tuple, b: tuple, ia: list[int], ib: list[int], n: int) -> tuple:
    """Interleave two ``GRPOTrainer._generate`` results back into row order."""
    merged: list[Any] = []
    for k, (va, vb) in enumerate(zip(a, b)):
        if k == 5:  # extra_fields (dict of per-row lists)
            keys = set(va) | set(vb)
            merged.append({key: _scatter(va.get(key), vb.get(key), ia, ib, n) for key in keys})
        elif va is None and vb is None:
            merged.append(None)
        elif isinstance(va, list) and isinstance(vb, list) and not va and not vb:
            merged.append([])
        else:
            merged.append(_scatter(va, vb, ia, ib, n))
    return tuple(merged)


def _scatter(va: Any, vb: Any, ia: list[int], ib: list[int], n: int) -> list[Any]:
    if not isinstance(va, list) or not isinstance(vb, list) or len(va) != len(ia) or len(vb) != len(ib):
        raise RuntimeError("cannot merge the two generation streams (unexpected TRL output); set verify_early=false")
    out: list[Any] = [None] * n
    for i, v in zip(ia, va):
        out[i] = v
    for i, v in zip(ib, vb):
        out[i] = v
    return out


# -- callbacks --------------------------------------------------------------------------------------
class StopOnSignal(TrainerCallback):
    """SIGTERM / first Ctrl-C: finish the step, save a checkpoint, stop. A second Ctrl-C aborts."""

    def __init__(self, say: Callable[[str], None] = print) -> None:
        self.requested: int | None = None
        self.say = say
        self._previous: dict[int, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            self.restore()
            raise KeyboardInterrupt
        self.requested = signum
        self.say(f"received {signal.Signals(signum).name}: finishing this step, saving a checkpoint and stopping "
                 "(Ctrl-C again aborts without saving)")

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.requested is not None:
            control.should_save = True
            control.should_training_stop = True
        return control

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


class StepLogger(TrainerCallback):
    """One metrics row per step (JSONL + TensorBoard) and a tqdm bar."""

    def __init__(self, trainer: ReplayGRPOTrainer, metrics: MetricsLogger | None, progress: bool) -> None:
        self.trainer = trainer
        self.metrics = metrics
        self.progress = progress and trainer.accelerator.is_main_process
        self.bar = None
        self.t0 = time.perf_counter()
        self.step_time = 0.0
        self.last_row: dict[str, Any] = {}
        trainer.phase_hook = self.phase

    def phase(self, text: str) -> None:
        if self.bar is not None:
            step = self.trainer.state.global_step + (0 if text.startswith("saving") else 1)
            self.bar.set_description_str(f"step {step}: {text}", refresh=True)

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.progress:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=state.max_steps, initial=state.global_step, unit="step", dynamic_ncols=True)

    def on_step_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.t0 = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.step_time = time.perf_counter() - self.t0
        if self.bar is not None:
            self.bar.update(1)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if not self.trainer.accelerator.is_main_process:
            return
        logs = dict(logs or {})
        if "train_runtime" in logs:  # the end-of-training summary, not a step
            if self.metrics is not None:
                self.metrics.log(state.global_step, {"event": "train_end",
                                                     **{f"trl/{k}": v for k, v in logs.items()}})
            return
        evaluating = any(k.startswith("eval_") for k in logs)
        row = self.trainer.pop_step_row(self.step_time, training=not evaluating)
        if not evaluating:
            row["step_time_s"] = self.step_time
        row.update({f"trl/{k}": v for k, v in logs.items() if isinstance(v, (int, float)) and v is not None})
        message = row.pop("collapse_message", None)
        if self.metrics is not None and row:
            self.metrics.log(state.global_step, row)
            if message:
                self.metrics.text(state.global_step, "warnings/collapse", message)
        if message and self.bar is not None:
            self.bar.write(f"WARNING: {message}")
        if not evaluating and row:
            self.last_row = row
            if self.bar is not None:
                self.bar.set_postfix({
                    "reward": f"{row.get('reward_mean', 0):.2f}",
                    "fresh": f"{row.get('solve_rate/fresh', 0):.2f}",
                    "corr": f"{row.get('solve_rate/correction', 0):.2f}",
                    "replay": f"{row.get('replay_ratio', 0):.2f}",
                    "lvl": row.get("difficulty/level", "-"),
                    "verif": f"{row.get('verifier_time_share', 0):.0%}",
                }, refresh=True)
                self.bar.set_description_str(f"step {state.global_step}", refresh=True)

    def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


# -- building and running ------------------------------------------------------------------------------
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


def _cuda() -> bool:
    return torch.cuda.is_available()


def precision_flags(precision: str) -> dict[str, bool]:
    if precision == "auto":
        precision = "bf16" if _cuda() and torch.cuda.is_bf16_supported() else "fp32"
    if precision in ("bf16", "fp16") and not _cuda():
        raise ConfigError(f"grpo.precision={precision} needs a GPU; use fp32 (or auto) on CPU")
    return {"bf16": precision == "bf16", "fp16": precision == "fp16"}


def model_dtype(dtype: str) -> str:
    if dtype != "auto":
        return dtype
    return "bfloat16" if _cuda() and torch.cuda.is_bf16_supported() else "float32"


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
    with _quiet_gradient_checkpointing_rename():
        return _grpo_config(cfg, run_dir, completions // (g.grad_accum * num_processes), init_kwargs, eval_kwargs)


def _grpo_config(cfg: TrainConfig, run_dir: Path, per_device: int, init_kwargs: dict[str, Any],
                 eval_kwargs: dict[str, Any]) -> GRPOConfig:
    g = cfg.grpo
    return GRPOConfig(
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
        scale_rewards="group" if g.scale_rewards else "none",
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
        use_cpu=not _cuda(),
        **precision_flags(g.precision),
        gradient_checkpointing=cfg.model.gradient_checkpointing,
        model_init_kwargs=init_kwargs,
        trust_remote_code=cfg.model.trust_remote_code,
        disable_dropout=True,
        shuffle_dataset=False,
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=_cuda(),
        logging_steps=1,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=cfg.save_every or cfg.steps,
        save_total_limit=None,  # rotated by ReplayGRPOTrainer after its atomic commit
        report_to="none",
        disable_tqdm=True,
        log_completions=False,
        **eval_kwargs,
    )


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


def run(cfg: TrainConfig, *, model: Any = None, tokenizer: Any = None, verifier: Verifier | None = None,
        say: Callable[[str], None] = print) -> RunResult:
    """Train as ``cfg`` says. ``model``/``tokenizer``/``verifier`` may be passed in (tests); a passed
    verifier is used as is and not closed."""
    from accelerate import PartialState
    from transformers import PrinterCallback, ProgressCallback

    from prover.policy.embedded import resolve_model
    from prover.prompts import chat_token_counter

    t_start = time.monotonic()
    run_dir, resume_ckpt = resolve_run(cfg)
    dist = PartialState()
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

    handle = VerifierHandle(verifier or make_verifier(cfg), owned=verifier is None, say=say)
    replay: ReplayCore | None = None
    metrics: MetricsLogger | None = None
    trainer: ReplayGRPOTrainer | None = None
    try:
        if model is None:
            say(f"loading {cfg.model.name_or_path} ...")
            model_arg: Any = resolve_model(cfg.model.name_or_path, cfg.model.cache_dir)
            tokenizer = tokenizer or load_tokenizer(cfg, model_arg)
        else:
            model_arg = model
            if tokenizer is None:
                raise ValueError("pass the tokenizer together with the model")
            tokenizer.padding_side = "left"
            if tokenizer.pad_token is None:
                tokenizer.pad_token = tokenizer.eos_token
        source = ProblemSource(cfg) if main else None
        if main:
            replay = ReplayCore(replay_cfg, token_counter=chat_token_counter(tokenizer))
            metrics = MetricsLogger(run_dir, tensorboard=cfg.metrics.tensorboard, resume_step=resume_step)
        evalset = eval_dataset(cfg)
        args = build_grpo_args(cfg, run_dir, dist.num_processes, has_eval=evalset is not None)
        with _quiet_gradient_checkpointing_rename():
            trainer = ReplayGRPOTrainer(
                model=model_arg, args=args, train_dataset=slot_dataset(cfg.grpo.batch_size), eval_dataset=evalset,
                processing_class=tokenizer, peft_config=lora_config(cfg), prover_cfg=cfg, verifier=handle,
                source=source, replay=replay, reward=VerifierReward())
        if resume_ckpt is not None:
            trainer.load_prover_state(ckpt_io.load_prover_state(resume_ckpt))
        for cb in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(cb)
        stop = StopOnSignal(say)
        trainer.add_callback(stop)
        step_logger = StepLogger(trainer, metrics, cfg.metrics.progress)
        trainer.add_callback(step_logger)
        try:
            with _quiet_gradient_checkpointing_rename():
                trainer.train(resume_from_checkpoint=str(resume_ckpt) if resume_ckpt else None)
        finally:
            stop.restore()
        final_step = trainer.state.global_step
        last = step_logger.last_row
    finally:
        if trainer is not None:
            trainer.close()
        if metrics is not None:
            metrics.close()
        if replay is not None:
            replay.close()
        handle.close()
    return RunResult(
        run_dir=run_dir, config_path=config_path, metrics_jsonl=run_dir / "metrics.jsonl",
        tensorboard_dir=run_dir / "tb" if cfg.metrics.tensorboard else None,
        checkpoints=ckpt_io.list_checkpoints(run_dir), replay_db=Path(replay_cfg.db_path),
        final_step=final_step, resumed_from=resume_ckpt, elapsed_s=time.monotonic() - t_start,
        last_metrics={k: v for k, v in last.items() if isinstance(v, (int, float)) and math.isfinite(v)})


__all__ = [
    "ProblemSource",
    "ReplayGRPOTrainer",
    "RunResult",
    "StepLogger",
    "StopOnSignal",
    "VerifierHandle",
    "VerifierReward",
    "build_grpo_args",
    "make_verifier",
    "resolve_run",
    "run",
]
