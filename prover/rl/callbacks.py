"""Trainer callbacks: stop cleanly on a signal; one metrics row per step and a progress bar."""

from __future__ import annotations

import signal
import threading
import time
from typing import Any, Callable

from transformers import TrainerCallback

from prover.rl.metrics import MetricsLogger


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

    def __init__(self, trainer: Any, metrics: MetricsLogger | None, progress: bool) -> None:
        self.trainer = trainer
        self.metrics = metrics
        self.progress = progress and trainer.accelerator.is_main_process
        self.bar = None
        self.t0 = time.perf_counter()
        self.step_time = 0.0
        self.last_row: dict[str, Any] = {}
        trainer.driver.phase_hook = self.phase

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
        row = self.trainer.driver.pop_step_row(self.step_time, training=not evaluating)
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


__all__ = ["StepLogger", "StopOnSignal"]
