"""Speed of the embedded loop: rollouts stop at the answer block's end, one generation call on CPU, the KV
cache on, no extra forward pass, and bench/train_step.py end to end.

The behaviour is tested, never wall-clock times: the stopped completion still holds the complete block
(the classic grader-truncation bug would cut it), a GPU run's settings are unchanged.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from prover.formats.lean import last_lean_block
from prover.rl.config import GRPOOptions, TrainConfig
from prover.rl.stopping import AnswerEndStop, closed_answer, stop_supported

ROOT = Path(__file__).resolve().parents[1]


def base_model_args() -> list[str]:
    """Train from the base model (no warm-start stage, where this checkout has one): the speed tests need no SFT."""
    import dataclasses

    return ["--warm_start.enabled", "false"] if "warm_start" in {f.name for f in dataclasses.fields(TrainConfig)} else []
ANSWER = "Here is the proof.\n```lean4\ntheorem t : 1 + 1 = 2 := by\n  rfl\n```"


# -- the stop rule -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, closed", [
    (ANSWER, True),
    ("```lean4\ntheorem t : True := trivial\n", False),  # still inside the block
    ("```lean4", False), ("```lean", False), ("```", False),  # an opening fence being written
    ("Use ```python\nx = 1\n```", False),  # not a Lean block
    ("```lean\nexample : True := trivial\n```", True),
    ("```lean4\nexample : True := trivial\n  ```", True),  # any fence line closes (the extraction's rule)
    ("", False),
])
def test_closed_answer_follows_the_extraction(text, closed):
    assert closed_answer(text) is closed
    if closed:
        code, truncated = last_lean_block(text)
        assert code is not None and not truncated


def test_stop_needs_an_end_of_sequence_pad():
    assert stop_supported(2, [2])
    assert stop_supported(2, [7, 2])
    assert not stop_supported(0, [2])  # padding would be trained on as sampled tokens
    assert not stop_supported(None, [2])


def test_stop_setting_values_and_gpu_default():
    assert GRPOOptions().stop_at_answer_end == "auto"
    assert GRPOOptions(stop_at_answer_end="true").stop_at_answer_end == "on"
    assert GRPOOptions(stop_at_answer_end="OFF").stop_at_answer_end == "off"
    with pytest.raises(ValueError, match="auto, on or off"):
        GRPOOptions(stop_at_answer_end="sometimes")


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from prover.policy.embedded import resolve_model

    return AutoTokenizer.from_pretrained(resolve_model("embedded:smollm2-135m"))


@pytest.mark.model
def test_criterion_stops_a_row_exactly_at_the_closing_fence(tokenizer):
    import torch

    from prover.rl.stopping import backtick_token_ids

    prompt = tokenizer("Prove it.")["input_ids"]
    answer = tokenizer(ANSWER + "\nAnd some chatter after the block.")["input_ids"]
    other = tokenizer("I do not know Lean, sorry, " * 4)["input_ids"]
    fences = backtick_token_ids(tokenizer)
    assert fences and all("`" in tokenizer.decode([i]) for i in list(fences)[:50])
    for fence_ids in (fences, None):  # the backtick shortcut and the check of every token agree
        stop = AnswerEndStop(tokenizer, len(prompt), fence_ids)
        stopped_at = None
        for n in range(1, min(len(answer), len(other)) + 1):
            ids = torch.tensor([prompt + answer[:n], prompt + other[:n]])
            done = stop(ids, None)
            assert not done[1], "a row without a Lean block never stops"
            if done[0] and stopped_at is None:
                stopped_at = n
        assert stopped_at is not None and stop.stopped == 1
        text = tokenizer.decode(answer[:stopped_at], skip_special_tokens=True)
        assert text.rstrip().endswith("```") and "chatter" not in text
        assert last_lean_block(text)[0] == "theorem t : 1 + 1 = 2 := by\n  rfl"  # the complete block


# -- CPU vs GPU: nothing a GPU run computes changes ---------------------------------------------------------
def test_no_second_forward_pass_for_old_logprobs(tmp_path):
    """TRL skips old_per_token_logps when generation and optimisation are aligned; the default keeps them aligned."""
    from prover.rl.grpo_args import build_grpo_args

    cfg = TrainConfig()
    args = build_grpo_args(cfg, tmp_path, 1)
    assert args.num_iterations == 1 and args.beta == 0.0
    assert args.gradient_accumulation_steps % (args.steps_per_generation * args.num_iterations) == 0
    assert not args.use_vllm and args.gradient_checkpointing is False  # the KV cache is used in generation


def test_split_streams_only_on_a_gpu(monkeypatch):
    from types import SimpleNamespace

    import prover.rl.driver as driver_mod
    from prover.rl.driver import ReplayDriver

    d = ReplayDriver(TrainConfig(), verifier=None, source=None, replay=None)  # type: ignore[arg-type]
    d.trainer = SimpleNamespace(accelerator=SimpleNamespace(num_processes=1))
    monkeypatch.setattr(driver_mod, "cuda_available", lambda: False)
    assert not d.split_streams()
    monkeypatch.setattr(driver_mod, "cuda_available", lambda: True)
    assert d.split_streams()  # a GPU run generates and verifies as before
    d.trainer.accelerator.num_processes = 2
    assert not d.split_streams()
    d.close()


# -- the real trainer: SmolLM2 + wasm Lean ----------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.lean
@pytest.mark.model
def test_trainer_stops_at_the_block_end_with_cache_and_no_extra_forward(tmp_path, lean_verifier):
    from transformers import TrainerCallback

    from prover.rl.config import config_from_argv
    from prover.rl.trainer import run

    import torch

    seen: dict = {"texts": [], "logp_calls_in_rounds": 0, "logp_calls": 0, "use_cache": [], "calls": 0,
                  "widths": [], "threads": [], "train_threads": [], "prefills": [], "loss_forwards": [],
                  "autocast": {"generating": set(), "loss": set()}}
    threads_before = torch.get_num_threads()

    class Watch(TrainerCallback):
        def __init__(self, trainer):
            self.trainer = trainer
            assert trainer.stop_at_answer_end, "on CPU the default stops at the answer's end"
            logp = trainer._get_per_token_logps_and_entropies
            gen_score = trainer._generate_and_score_completions
            model = trainer.accelerator.unwrap_model(trainer.model_wrapped)
            generate = model.generate
            state = {"in_round": False, "generating": False}

            def width(module, args):  # tokens fed per forward while generating: 1 after the prompt with a KV cache
                shape = (int(args[0].shape[0]), int(args[0].shape[1]))
                phase = "generating" if state["generating"] else "loss" if not state["in_round"] else None
                if phase:
                    seen["autocast"][phase].add((torch.is_autocast_enabled("cpu"), torch.get_autocast_dtype("cpu")))
                if state["generating"]:
                    seen["widths"].append(shape[1])
                elif state["in_round"]:
                    seen["prefills"].append(shape)
                else:
                    seen["loss_forwards"].append(shape)

            model.get_input_embeddings().register_forward_pre_hook(width)

            def count_logp(*a, **k):
                seen["train_threads"].append(torch.get_num_threads())
                seen["logp_calls"] += 1
                seen["logp_calls_in_rounds"] += state["in_round"]
                return logp(*a, **k)

            def round_(inputs):
                state["in_round"] = True
                try:
                    return gen_score(inputs)
                finally:
                    state["in_round"] = False

            def watch_generate(*a, **k):
                seen["calls"] += 1
                seen["use_cache"].append(k["generation_config"].use_cache)
                seen["threads"].append(torch.get_num_threads())
                state["generating"] = True
                try:
                    return generate(*a, **k)
                finally:
                    state["generating"] = False

            trainer._get_per_token_logps_and_entropies = count_logp
            trainer._generate_and_score_completions = round_
            model.generate = watch_generate

        def on_step_end(self, args, state, control, **kwargs):
            tok = self.trainer._tokenizer
            seen["texts"] += tok.batch_decode(self.trainer.driver.last_generation["completion_ids"],
                                              skip_special_tokens=True)

    cfg = config_from_argv(["--output_dir", str(tmp_path / "run"), "--steps", "1", "--grpo.batch_size", "2",
                            "--grpo.num_generations", "4", "--grpo.grad_accum", "2", "--few_shot", "3",
                            "--grpo.max_new_tokens", "96", "--metrics.progress", "false",
                            "--metrics.tensorboard", "false", "--replay.ratio", "0", *base_model_args()])
    result = run(cfg, verifier=lean_verifier, callbacks=[Watch])
    assert result.final_step == 1
    assert seen["calls"] == 1, "one generation call for the whole batch on CPU"
    assert seen["use_cache"] == [None] or seen["use_cache"] == [True]  # None: generate's default, the cache on
    # grpo.share_prefill (auto: on without a GPU): each of the 2 distinct prompts is run once, all but its last
    # token, before generate; generate then feeds one token per row and forward (the KV cache is used)
    assert len(seen["prefills"]) == 1 and seen["prefills"][0][0] == 2
    assert len(seen["widths"]) > 2 and set(seen["widths"]) == {1}, "one new token per forward after the prefill"
    # the loss: 2 micro-batches of 4 rows drawn from 2 groups, so some rows share a prompt, whose forward pass runs
    # once (fewer rows), then the completions of all 4 rows on top of the copied cache
    assert len(seen["loss_forwards"]) == 4
    for prefix, rest in zip(seen["loss_forwards"][::2], seen["loss_forwards"][1::2]):
        assert prefix[0] < 4 and prefix[1] == seen["prefills"][0][1]  # the padded prompt width less one token
        assert rest[0] == 4 and 2 <= rest[1] <= 97  # the last prompt token and the completions (<= 96 tokens)
    assert seen["logp_calls_in_rounds"] == 0, "no forward pass for old log-probs"
    assert seen["logp_calls"] == 2  # one per micro-batch of the loss
    # generation on one torch thread (model.generation_threads auto), training on torch's own count
    assert seen["threads"] == [1] and set(seen["train_threads"]) == {threads_before}
    assert torch.get_num_threads() == threads_before
    # grpo.precision auto: bf16 autocast on a CPU with bf16 instructions (generation and loss alike), else fp32;
    # the weights stay fp32 either way (mixed precision)
    from prover.policy.precision import resolve_precision

    bf16 = resolve_precision("auto") == "bf16"
    expected = {(True, torch.bfloat16)} if bf16 else {(False, torch.get_autocast_dtype("cpu"))}
    assert seen["autocast"]["generating"] == expected and seen["autocast"]["loss"] == expected
    assert result.final_step == 1
    assert len(seen["texts"]) == 8
    closed = [t for t in seen["texts"] if closed_answer(t)]
    assert closed, "the few-shot prompt makes SmolLM2 write at least one lean4 block"
    for text in closed:  # stopped right at the closing fence, with the complete block for the verifier
        assert text.rstrip().endswith("```")
        code, truncated = last_lean_block(text)
        assert code is not None and not truncated
    import json

    rows = [json.loads(line) for line in result.metrics_jsonl.read_text().splitlines()]
    step = next(r for r in rows if "reward_mean" in r)
    assert step["infra_errors"] == 0
    for key in ("time/generation_s", "time/verifier_wait_s", "time/training_s", "time/other_s"):
        assert step[key] >= 0
    assert step["time/training_s"] > 0


@pytest.mark.slow
@pytest.mark.lean
@pytest.mark.model
def test_train_step_bench_end_to_end(lean_verifier):
    sys.path.insert(0, str(ROOT / "bench"))
    import train_step

    lines: list[str] = []
    last = train_step.main(["--steps", "1", "--warmup", "0", "--", "--grpo.batch_size", "2",
                            "--grpo.num_generations", "2", "--grpo.grad_accum", "2", "--grpo.max_new_tokens", "24",
                            *base_model_args()],
                           verifier=lean_verifier, say=lines.append)
    assert lines[-1] == last
    assert re.fullmatch(r"train step speed-up: \d+\.\dx \(new default vs few-shot recipe\), trainer generation at "
                        r"\d+% of bare generate", last), last
    steps = [line for line in lines if line.strip().startswith("step 1:")]
    assert len(steps) == 2  # one measured step per recipe, with the four phases and both speeds
    for line in steps:
        for part in ("generation", "verifier wait", "training", "other", "tok/s, bare generate"):
            assert part in line


@pytest.mark.slow
@pytest.mark.model
def test_generation_threads_bench_end_to_end():
    sys.path.insert(0, str(ROOT / "bench"))
    import generation_threads

    lines: list[str] = []
    last = generation_threads.main(["--busy", "0,1", "--new-tokens", "2", "--batch", "2", "--rounds", "1"],
                                   say=lines.append)
    assert lines[-1] == last
    assert re.fullmatch(r"generation on 1 thread: \d+\.\d\dx \(idle\), \d+\.\d\dx \(with 1 busy core\(s\)\) the speed "
                        r"of \d+ threads", last), last
    assert sum("GFLOP/s, generate" in line for line in lines) >= 2
