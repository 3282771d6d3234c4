"""Train-step speed of the embedded loop: the old few-shot recipe against the new default, side by side.

    .venv/bin/python bench/train_step.py [--steps 2] [--warmup 1] [--verifier wasm]

Two short training runs in one process, on the same machine, the same verifier
(one Lean worker, started once, shared) and the same generated problems (same seed):

  A  the few-shot recipe (the default of commit c9a1b6b): 3 worked examples in every
     fresh prompt, 160 new tokens, the fresh and correction streams generated in two
     calls, rollouts run to end-of-sequence or the token limit, generator level 0 first,
     three errors in an error-fix turn's feedback, generation on torch's own thread count,
     every row's prompt run through the model on its own (no shared prefill), micro-batches of 2,
     sampling temperature 0.4, fp32 (c9a1b6b's ``auto`` on every CPU);
  B  the new default (this checkout's defaults) with ``few_shot 0``: the prompt the
     warm-started policy gets (the embedded default adds no examples once it is warm-started),
     generator level 3 first, the first error only in an error-fix turn's feedback, generation on
     one torch thread (``model.generation_threads`` auto; the bare ``generate`` uses the same), each
     distinct prompt's forward pass shared by its group in generation and training (``grpo.share_prefill``
     auto; the bare ``generate`` does the same), whole groups per micro-batch (``grpo.grad_accum 1``) and
     ``grpo.precision`` auto: bf16 autocast on a CPU with bf16 instructions (generation too, in one autocast
     region per call; the bare ``generate`` runs under the trainer's same context), fp32 elsewhere.
     Where this checkout has the warm-start stage, B starts from the warm-started policy as the
     default does (A from the base model, as c9a1b6b did); without it, B runs the base model
     zero-shot and its solve rates mean nothing: only speed is compared.

Per measured step (after ``--warmup`` steps) it prints the time in generation, verifier
wait, training (TRL's loss, backward and optimizer step) and other (batch mixing, scoring,
storing), from the trainer's own step metrics (``prover.rl.driver.pop_step_row``), the
prompt tokens of the step, its replay share, solve rate, share of groups whose completions all
got the same reward (no GRPO signal) and generator level; and the
trainer's generated tokens/s next to a bare ``model.generate`` of the same prompts, with the
same generation settings, stopping rule and model state (right after the step's update),
the model in eval mode. The last line is

    train step speed-up: Rx (new default vs few-shot recipe), trainer generation at P% of bare generate

(R: mean step time of A over B; P: B's trainer tokens/s over its bare generate's, summed over the
measured steps). ``--bound`` adds a rough hardware bound of a bare decode step (weights read per
step over measured memory bandwidth; FLOPs per step over measured matmul throughput).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transformers import TrainerCallback  # noqa: E402

# A: the settings of commit c9a1b6b's default that this checkout changed or that the new default drops.
FEW_SHOT_RECIPE: tuple[str, ...] = ("--few_shot", "3", "--grpo.max_new_tokens", "160", "--verify_early", "true",
                                    "--grpo.stop_at_answer_end", "off", "--problems.difficulty.start_level", "0",
                                    "--lean.max_errors", "3", "--grpo.share_prefill", "off", "--grpo.grad_accum", "4",
                                    "--grpo.temperature", "0.4", "--grpo.precision", "fp32")
NEW_DEFAULT: tuple[str, ...] = ("--few_shot", "0",)
FINAL = "train step speed-up: {r:.1f}x (new default vs few-shot recipe), trainer generation at {p:.0f}% of bare generate"


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


class BareGenerate(TrainerCallback):
    """Trainer callback: after each step, a bare ``generate`` of that step's prompts; records both speeds."""

    def __init__(self, trainer: Any, split_streams: bool | None) -> None:
        self.trainer = trainer
        self.rows: list[dict[str, float]] = []
        if split_streams is not None:  # A: the c9a1b6b code path (two calls); None: the checkout's rule
            trainer.driver.split_streams = lambda: split_streams

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        gen = self.trainer.driver.last_generation
        if not gen:
            return
        trainer_tokens = sum(len(c) for c in gen["completion_ids"])
        tokens, seconds, steps = self.bare(gen["prompt_ids"])
        self.rows.append({"step": float(state.global_step), "trainer_tokens": float(trainer_tokens),
                          "trainer_s": gen["seconds"], "bare_tokens": float(tokens), "bare_s": seconds,
                          "bare_decode_steps": float(steps),
                          "prompt_tokens": float(sum(len(x) for x in gen["prompt_ids"])),
                          "prompt_tokens_max": float(max((len(x) for x in gen["prompt_ids"]), default=0))})

    def bare(self, prompt_ids: list[list[int]]) -> tuple[int, float, int]:
        """(completion tokens up to the first end-of-sequence, seconds, decode steps) of one ``generate`` call."""
        import torch
        from transformers import StoppingCriteriaList

        from prover.policy.prefill import generate_shared_prefill
        tr = self.trainer
        tok = tr._tokenizer
        model = tr.accelerator.unwrap_model(tr.model_wrapped)
        width = max(len(p) for p in prompt_ids)
        ids = torch.tensor([[tok.pad_token_id] * (width - len(p)) + list(p) for p in prompt_ids])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompt_ids])
        stop = StoppingCriteriaList(tr._answer_end_stop(ids)) if tr.stop_at_answer_end else None
        assert tr.generation_config.use_cache is not False  # the KV cache (None: generate's default, on), as in training
        was_training = model.training
        model.eval()
        try:
            with torch.no_grad(), tr.generation_context():  # the trainer's generation threads and precision
                t0 = time.perf_counter()
                gen = model.generate
                if tr.share_prefill:  # the trainer's generation settings, its shared prefill included
                    gen = functools.partial(generate_shared_prefill, model, model.generate)
                out = gen(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                          generation_config=tr.generation_config, stopping_criteria=stop)
                seconds = time.perf_counter() - t0
        finally:
            model.train(was_training)
        completions = out[:, width:].tolist()
        eos = set(tr.eos_token_ids)
        tokens = 0
        for row in completions:
            n = next((i + 1 for i, t in enumerate(row) if t in eos), len(row))
            tokens += n
        return tokens, seconds, len(completions[0]) if completions else 0


class Unchecked:
    """``--verifier none``: checks nothing; every completion gets an 'invalid' verdict (speed of the rest only)."""

    domain = "lean"

    def verify(self, problems: Sequence[Any], responses: Sequence[str], *, progress: bool = False) -> list[Any]:
        from prover.types import Status, Verdict

        return [Verdict(Status.INVALID, 0.0, feedback="error: not checked (bench --verifier none)") for _ in responses]

    def close(self) -> None:
        pass


def run_recipe(name: str, argv: Sequence[str], verifier: Any, out_dir: Path, split: bool | None,
               say: Any) -> list[dict[str, float]]:
    from prover.rl.config import TrainConfig, config_from_argv
    from prover.rl.trainer import run

    argv = list(argv)
    if split and "warm_start" in {f.name for f in dataclasses.fields(TrainConfig)}:
        argv = ["--warm_start.enabled", "false", *argv]  # A starts from the base model, as c9a1b6b's default did
    cfg = config_from_argv(argv + ["--output_dir", str(out_dir / name), "--metrics.tensorboard", "false",
                                   "--metrics.progress", "false"])
    probes: list[BareGenerate] = []

    def probe(trainer: Any) -> BareGenerate:
        probes.append(BareGenerate(trainer, split))
        return probes[-1]

    lean_cfg = getattr(verifier, "config", None)
    if lean_cfg is not None and hasattr(lean_cfg, "max_errors"):
        # one shared worker; the feedback is built client-side from each answer, with the recipe's settings
        for key in ("max_errors", "context_lines", "feedback_cap", "goals"):
            setattr(lean_cfg, key, getattr(cfg.lean, key))
    say(f"[{name}] load {load()} ... training {cfg.steps} steps")
    result = run(cfg, verifier=verifier, say=lambda m: None, callbacks=[probe])
    rows = [json.loads(line) for line in result.metrics_jsonl.read_text().splitlines()]
    steps = {int(r["step"]): r for r in rows if "reward_mean" in r}
    for b in probes[0].rows:
        b.update({k: float(v) for k, v in steps.get(int(b["step"]), {}).items() if isinstance(v, (int, float))})
    say(f"[{name}] done, load {load()}")
    return probes[0].rows


def hardware_bound(model_params: int, batch: int) -> str:
    """A rough lower bound of one decode step from measured memory bandwidth and matmul throughput."""
    import torch

    x = torch.empty(64 * 2**20, dtype=torch.float32)  # 256 MiB
    y = torch.empty_like(x)
    y.copy_(x)
    t0 = time.perf_counter()
    for _ in range(5):
        y.copy_(x)
    bw = 5 * 2 * x.numel() * 4 / (time.perf_counter() - t0)  # read + write bytes per second
    from generation_threads import matmul_gflops  # bench/, beside this file

    from prover.policy.precision import resolve_precision
    from prover.policy.threads import generation_threads

    own = torch.get_num_threads()
    gen = generation_threads(0)
    bf16 = resolve_precision("auto") == "bf16"  # B generates under bf16 autocast there (weights cast once per call)
    # the decode-shaped product (batch rows x hidden), as generated
    flops = matmul_gflops(gen, batch, 4608, bf16=bf16) * 1e9
    flops_own = matmul_gflops(own, batch, 4608, bf16=bf16) * 1e9
    weight_bytes = model_params * (2 if bf16 else 4)
    gflop = 2 * model_params * batch / 1e9
    return (f"bound of a bare decode step (batch {batch}, {'bf16' if bf16 else 'fp32'}): weights "
            f"{weight_bytes / 1e9:.2f} GB / memory "
            f"{bw / 1e9:.1f} GB/s = {weight_bytes / bw:.3f} s; {gflop:.2f} GFLOP / {flops / 1e9:.1f} GFLOP/s "
            f"(decode-shaped matmul, {gen} thread(s), as the trainer generates) = {gflop * 1e9 / flops:.3f} s "
            f"({flops_own / 1e9:.1f} GFLOP/s on torch's {own} threads); cores {os.cpu_count()}")


def main(argv: Sequence[str] | None = None, *, verifier: Any = None, say: Any = print) -> str:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=2, help="measured steps per recipe (default 2)")
    ap.add_argument("--warmup", type=int, default=1, help="steps run first and not measured (default 1)")
    ap.add_argument("--verifier", default="wasm", help="lean backend: wasm (default, run it under the wasm lock) or "
                                                       "native; 'none' checks nothing (every completion 'invalid'): "
                                                       "generation and training only, verifier wait not measured")
    ap.add_argument("--bound", action="store_true", help="also print a rough hardware bound of a decode step")
    ap.add_argument("--out", default="", help="run directories (default: a temporary directory, removed)")
    ap.add_argument("overrides", nargs="*", help="--key value settings for both recipes (after --), "
                                                 "e.g. -- --grpo.batch_size 1")
    args = ap.parse_args(argv)
    if args.steps < 1 or args.warmup < 0:
        ap.error("--steps must be >= 1 and --warmup >= 0")
    common = ["--steps", str(args.steps + args.warmup), "--seed", "0", "--lean.backend", args.verifier,
              "--lean.workers", "1"]
    owned = verifier is None
    if owned and args.verifier == "none":
        verifier = Unchecked()
        common[common.index("--lean.backend") + 1] = "wasm"  # never started: the verifier is passed in
    elif owned:
        from prover.verifiers.lean import LeanConfig, LeanVerifier

        verifier = LeanVerifier(LeanConfig(backend=args.verifier, workers=1, timeout_s=60.0))
    say(f"machine: {os.cpu_count()} cores, load {load()}; verifier {args.verifier} (1 worker)")
    tmp = tempfile.TemporaryDirectory(prefix="train-step-") if not args.out else None
    out_dir = Path(args.out or tmp.name)  # type: ignore[union-attr]
    try:
        results = {}
        import torch

        # A generated with torch's own thread count (c9a1b6b had no generation_threads setting)
        recipe_a = (*FEW_SHOT_RECIPE, "--model.generation_threads", str(torch.get_num_threads()))
        for name, recipe, split in (("A few-shot recipe", recipe_a, True), ("B new default", NEW_DEFAULT, None)):
            rows = run_recipe(name.split()[0], [*common, *recipe, *args.overrides], verifier, out_dir, split, say)
            measured = [r for r in rows if r["step"] > args.warmup]
            results[name] = measured
            say(f"{name} ({' '.join(recipe)}):")
            for r in rows:
                tag = "warm-up" if r["step"] <= args.warmup else "step"
                say(f"  {tag} {int(r['step'])}: total {r.get('step_time_s', 0):.1f} s = generation "
                    f"{r.get('time/generation_s', 0):.1f} + verifier wait {r.get('time/verifier_wait_s', 0):.1f} + "
                    f"training {r.get('time/training_s', 0):.1f} + other {r.get('time/other_s', 0):.1f}; "
                    f"trainer {r['trainer_tokens']:.0f} tokens in {r['trainer_s']:.1f} s = "
                    f"{r['trainer_tokens'] / max(r['trainer_s'], 1e-9):.2f} tok/s, bare generate "
                    f"{r['bare_tokens']:.0f} tokens in {r['bare_s']:.1f} s = "
                    f"{r['bare_tokens'] / max(r['bare_s'], 1e-9):.2f} tok/s "
                    f"({r['bare_s'] / max(r['bare_decode_steps'], 1):.3f} s per decode step); prompts "
                    f"{r.get('prompt_tokens', 0):.0f} tokens (longest {r.get('prompt_tokens_max', 0):.0f}); "
                    f"replay share {r.get('replay_ratio', 0):.2f}, solved {r.get('solve_rate/sample', 0):.2f}, "
                    f"groups with one reward {r.get('frac_zero_std_groups', 0):.2f}, "
                    f"level {r.get('difficulty/level', -1):.0f}")
        if args.bound:
            say(hardware_bound(134_515_008, 8))
        a, b = results["A few-shot recipe"], results["B new default"]
        if not a or not b:
            raise RuntimeError("no measured step: raise --steps")
        mean = lambda rows, k: sum(r.get(k, 0.0) for r in rows) / len(rows)  # noqa: E731
        speedup = mean(a, "step_time_s") / max(mean(b, "step_time_s"), 1e-9)
        trainer_rate = sum(r["trainer_tokens"] for r in b) / max(sum(r["trainer_s"] for r in b), 1e-9)
        bare_rate = sum(r["bare_tokens"] for r in b) / max(sum(r["bare_s"] for r in b), 1e-9)
        line = FINAL.format(r=speedup, p=100 * trainer_rate / max(bare_rate, 1e-9))
        say(f"load average at the end: {load()}")
        say(line)
        return line
    finally:
        if owned:
            verifier.close()
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
