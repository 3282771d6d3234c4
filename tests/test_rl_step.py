"""Real GRPO steps on a tiny random Llama: parameters move, the replay ratio holds, resume continues.

The verifier here is a deterministic rule, not a stand-in for convenience: a random model
never writes valid Lean, so with real verification every group would have zero reward
variance and GRPO would have no gradient to test. The parity rule gives mixed rewards in
every group. The real wasm Lean and the real SmolLM2 run the same trainer end to end in
test_train_default.py.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
import torch

from prover.rl import checkpoint as ckpt_io
from prover.rl.config import load_config
from prover.rl.metrics import STEP_KEYS, CollapseDetector, MetricsLogger, Rollout, group_solve_rates, step_metrics
from prover.types import Status, Verdict
from prover.verifiers.base import Verifier


class ParityVerifier(Verifier):
    """Valid when the response has an even number of characters: mixed rewards in every group."""

    domain = "lean"

    def __init__(self) -> None:
        self.calls = 0

    def verify(self, problems, responses, *, progress=False):
        self.calls += 1
        return [Verdict(Status.VALID, 1.0) if len(r) % 2 == 0 else
                Verdict(Status.INVALID, 0.0, feedback="error: the proof does not check")
                for r in responses]

    @classmethod
    def problem_from_row(cls, row):  # pragma: no cover - not used
        raise NotImplementedError


@pytest.fixture(scope="module")
def tokenizer():
    from transformers import AutoTokenizer

    from prover.policy.embedded import EmbeddedModelMissing, ensure_checkpoint

    try:
        path = ensure_checkpoint()
    except EmbeddedModelMissing as e:
        pytest.skip(str(e))
    return AutoTokenizer.from_pretrained(str(path))


def tiny_model(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=4096,
                         tie_word_embeddings=False, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    return LlamaForCausalLM(config)


def tiny_config(run_dir: Path, *extra: str):
    return load_config(None, [
        "--output_dir", str(run_dir), "--steps", "2", "--save_every", "1", "--save_total_limit", "0",
        "--grpo.batch_size", "4", "--grpo.num_generations", "2", "--grpo.max_new_tokens", "16",
        "--grpo.learning_rate", "1e-3", "--format.enabled", "false", "--few_shot", "0",
        "--replay.ratio", "0.5", "--replay.preserve_fraction", "0", "--metrics.progress", "false",
        "--problems.difficulty.start_level", "0", *extra])  # the mechanics on the easiest level (default: 3)


def rows(run_dir: Path) -> list[dict]:
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    return [r for r in map(json.loads, lines) if "reward_mean" in r]


def attempt_ids(db: Path) -> set[str]:
    con = sqlite3.connect(str(db))
    try:
        return {r[0] for r in con.execute("SELECT attempt_id FROM attempts")}
    finally:
        con.close()


@pytest.fixture(scope="module")
def two_steps(tmp_path_factory, tokenizer):
    from prover.rl.trainer import run

    from prover.data.core_lean import CoreLeanGenerator

    root = tmp_path_factory.mktemp("rl")
    run_dir = root / "run"
    evalset = root / "eval.jsonl"
    evalset.write_text("".join(json.dumps(p.to_json()) + "\n" for p in CoreLeanGenerator(seed=9).sample(1, 3)))
    model = tiny_model(tokenizer)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    verifier = ParityVerifier()
    cfg = tiny_config(run_dir, "--eval.source", "jsonl", "--eval.path", str(evalset), "--eval.every", "2",
                      "--eval.limit", "2")
    result = run(cfg, model=model, tokenizer=tokenizer, verifier=verifier)
    after = {k: v.detach().clone() for k, v in model.named_parameters()}
    saved = {name: ckpt_io.replay_backup(run_dir / name) for name in ("checkpoint-1", "checkpoint-2")}
    snapshot = run_dir.parent / "snapshot"  # the run as it was after 2 steps, for the kill test
    shutil.copytree(run_dir, snapshot)
    return {"run_dir": run_dir, "result": result, "before": before, "after": after, "verifier": verifier,
            "snapshot": snapshot, "saved": saved}


def test_a_real_grpo_step_changes_the_parameters(two_steps, tokenizer):
    from safetensors.torch import load_file

    before, after = two_steps["before"], two_steps["after"]
    changed = [k for k in before if not torch.equal(before[k], after[k])]
    assert len(changed) == len(before), f"unchanged: {set(before) - set(changed)}"
    # already after the first optimizer step (checkpoint-1 holds the weights after step 1)
    step1 = load_file(str(two_steps["run_dir"] / "checkpoint-1" / "model.safetensors"))
    assert any(not torch.equal(step1[k], before[k]) for k in step1 if k in before)
    assert two_steps["verifier"].calls >= 2
    first = rows(two_steps["run_dir"])[0]
    assert first["trl/grad_norm"] > 0 and first["frac_zero_std_groups"] < 1.0


def test_metrics_rows_have_every_key(two_steps):
    result = two_steps["result"]
    found = rows(result.run_dir)
    assert [r["step"] for r in found] == [1, 2]
    for key in STEP_KEYS:
        assert all(key in r for r in found), key
    assert any(p.name.startswith("events.out.tfevents") for p in (result.run_dir / "tb").iterdir())
    assert result.final_step == 2 and [c.name for c in result.checkpoints] == ["checkpoint-1", "checkpoint-2"]


def test_evaluation_set_is_scored_during_training(two_steps):
    lines = (two_steps["run_dir"] / "metrics.jsonl").read_text().splitlines()
    evals = [r for r in map(json.loads, lines) if "eval/solve_rate/sample" in r]
    assert [r["step"] for r in evals] == [2]
    assert evals[0]["eval/problems"] == 2 and "trl/eval_reward" in evals[0]


def test_replay_ratio_in_a_batch_matches_the_config(two_steps):
    first, second = rows(two_steps["run_dir"])
    # step 1: the store is empty, every slot is fresh; step 2: half of the 4 prompts are replay turns
    assert first["replay_ratio"] == 0.0 and first["samples/correction"] == 0
    assert second["replay_ratio"] == pytest.approx(0.5)
    assert second["samples/correction"] == 2 * 2 and second["samples/fresh"] == 2 * 2
    assert second["replay/target_ratio"] == 0.5


def test_checkpoint_holds_model_optimizer_scheduler_rng_replay_and_sampler(two_steps):
    ckpt = two_steps["run_dir"] / "checkpoint-2"
    for name in ("model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"):
        assert (ckpt / name).is_file(), name
    state = ckpt_io.load_prover_state(ckpt)
    assert state["step"] == 2 and state["source"]["difficulty"]["level"] == 0 and len(state["replay"]["mixer_rng"]) == 3
    assert state["replay"]["metrics"]["samples"]  # ReplayCore.state_dict: the mixer RNG and the counters
    assert attempt_ids(ckpt / "prover_state" / "replay.sqlite")
    assert not (two_steps["run_dir"] / ckpt_io.STAGING).exists()


def test_resume_continues_with_the_same_replay_store_and_step_count(two_steps, tokenizer):
    from prover.rl.trainer import run

    run_dir = two_steps["run_dir"]
    stored = attempt_ids(two_steps["saved"]["checkpoint-2"])
    cfg = tiny_config(run_dir, "--steps", "3", "--resume", str(run_dir))
    result = run(cfg, model=tiny_model(tokenizer), tokenizer=tokenizer, verifier=ParityVerifier())
    assert result.final_step == 3 and result.resumed_from == run_dir / "checkpoint-2"
    assert ckpt_io.checkpoint_step(run_dir / "checkpoint-3") == 3
    assert [r["step"] for r in rows(run_dir)] == [1, 2, 3]
    assert stored < attempt_ids(run_dir / "replay.sqlite")  # same store, grown by step 3
    third = rows(run_dir)[-1]
    assert third["replay_ratio"] == pytest.approx(0.5)
    assert third["replay/batches"] == 3  # cumulative replay counters continued too


def test_resume_after_a_kill_rolls_back_to_the_checkpoint(two_steps, tokenizer):
    """Killed after step 2 before its checkpoint: the store and logs return to checkpoint-1's state."""
    from prover.rl.trainer import run

    run_dir = two_steps["snapshot"]
    shutil.rmtree(run_dir / "checkpoint-2")
    (run_dir / ckpt_io.STAGING / "checkpoint-2").mkdir(parents=True)  # a half-written save
    at_ckpt1 = attempt_ids(run_dir / "checkpoint-1" / "prover_state" / "replay.sqlite")
    written_later = attempt_ids(run_dir / "replay.sqlite") - at_ckpt1
    assert written_later
    cfg = tiny_config(run_dir, "--resume", str(run_dir))
    result = run(cfg, model=tiny_model(tokenizer), tokenizer=tokenizer, verifier=ParityVerifier())
    assert result.final_step == 2 and result.resumed_from == run_dir / "checkpoint-1"
    now = attempt_ids(run_dir / "replay.sqlite")
    assert at_ckpt1 <= now and not (written_later & now)
    assert [r["step"] for r in rows(run_dir)] == [1, 2]


def test_a_new_run_refuses_a_directory_with_checkpoints(two_steps, tokenizer):
    from prover.rl.config import ConfigError
    from prover.rl.trainer import resolve_run

    with pytest.raises(ConfigError, match="--resume"):
        resolve_run(tiny_config(two_steps["run_dir"]))
    assert resolve_run(tiny_config(two_steps["run_dir"], "--resume", "auto"))[1] is not None


def test_lora_step_trains_only_the_adapter(tmp_path, tokenizer):
    from prover.rl.trainer import run

    model = tiny_model(tokenizer)
    base = {k: v.detach().clone() for k, v in model.named_parameters()}
    cfg = tiny_config(tmp_path / "lora", "--steps", "1", "--lora.enabled", "--lora.r", "4",
                      "--lora.target_modules", "q_proj,v_proj", "--eval.source", "")
    result = run(cfg, model=model, tokenizer=tokenizer, verifier=ParityVerifier())
    ckpt = result.checkpoints[-1]
    assert (ckpt / "adapter_model.safetensors").is_file() and (ckpt / "adapter_config.json").is_file()
    assert not (ckpt / "model.safetensors").exists()
    now = {k.replace(".base_layer", ""): v for k, v in model.named_parameters()}
    assert all(torch.equal(base[k], now[k]) for k in base)  # the base weights are frozen
    lora_b = [v for k, v in model.named_parameters() if "lora_B" in k]
    assert lora_b and any(v.abs().sum() > 0 for v in lora_b)  # the adapter (zero-initialised B) moved


# -- units -------------------------------------------------------------------------------------
def test_sqlite_backup_and_restore(tmp_path):
    live = tmp_path / "live.sqlite"
    con = sqlite3.connect(str(live))
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE t (x INTEGER)")
    con.execute("INSERT INTO t VALUES (1)")
    con.commit()
    ckpt_io.backup_sqlite(live, tmp_path / "copy.sqlite")
    con.execute("INSERT INTO t VALUES (2)")
    con.commit()
    con.close()
    ckpt_io.restore_sqlite(tmp_path / "copy.sqlite", live)
    check = sqlite3.connect(str(live))
    assert [r[0] for r in check.execute("SELECT x FROM t")] == [1]
    check.close()


def test_commit_is_atomic_and_incomplete_checkpoints_are_ignored(tmp_path):
    run_dir = tmp_path / "run"
    staged = ckpt_io.staging_root(run_dir) / "checkpoint-5"
    staged.mkdir(parents=True)
    (staged / "trainer_state.json").write_text(json.dumps({"global_step": 5}))
    ckpt_io.save_prover_state(staged, {"step": 5}, None)
    assert ckpt_io.find_checkpoint(run_dir) is None  # still staged
    ckpt_io.commit(staged, run_dir / "checkpoint-5")
    (run_dir / "checkpoint-9").mkdir()  # incomplete (no state): ignored
    assert ckpt_io.find_checkpoint(run_dir) == run_dir / "checkpoint-5"
    assert ckpt_io.checkpoint_step(run_dir / "checkpoint-5") == 5


def _r(group, origin="fresh", solved=False, reward=None, **kw):
    reward = (1.0 if solved else 0.0) if reward is None else reward
    return Rollout(group=group, origin=origin, reward=reward, solved=solved,
                   status="valid" if solved else "invalid", tokens=10, **kw)


def test_step_metrics_and_diversity_gap():
    rollouts = [_r(0, solved=True), _r(0), _r(1), _r(1), _r(2, "fix", solved=True), _r(2, "fix"),
                _r(3, "preserve", input_was_correct=True, reward=-0.5), _r(3, "preserve", True, input_was_correct=True)]
    m = step_metrics(rollouts, replay_ratio=0.5, step_time_s=10.0, verifier_wait_s=2.5)
    assert m["solve_rate/fresh"] == 0.25 and m["solve_rate/correction"] == 0.5
    assert m["correction_success_rate"] == 0.5 and m["correct_to_wrong_rate"] == 0.5
    assert m["solve_rate/sample"] == 0.25 and m["solve_rate/any_in_group"] == 0.5 and m["diversity_gap"] == 0.25
    assert m["frac_zero_std_groups"] == 0.25 and m["tokens_per_s"] == 8.0 and m["verifier_time_share"] == 0.25
    assert set(STEP_KEYS) <= set(m)
    assert group_solve_rates([]) == (0.0, 0.0, 0)


def test_collapse_detector_warns_once_when_the_gap_shrinks():
    det = CollapseDetector(window=2, drop=0.5)
    messages = [det.update(g, 0.6) for g in (0.4, 0.4, 0.4, 0.1, 0.1, 0.1)]
    warnings = [m for m in messages if m]
    assert len(warnings) == 1 and "diversity collapse" in warnings[0]
    assert CollapseDetector(window=2).update(0.0, 1.0) is None


def test_metrics_logger_truncates_rows_after_the_resume_step(tmp_path):
    logger = MetricsLogger(tmp_path, tensorboard=False)
    for step in (1, 2, 3):
        logger.log(step, {"reward_mean": float(step)})
    logger.close()
    logger = MetricsLogger(tmp_path, tensorboard=False, resume_step=2)
    logger.log(3, {"reward_mean": 30.0})
    logger.close()
    got = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["reward_mean"]) for r in got] == [(1, 1.0), (2, 2.0), (3, 30.0)]


def test_merge_generations_restores_row_order():
    from prover.rl.trl_compat import merge_generations as _merge_generations

    a = ([[1], [2]], [[10], [20]], None, ["a0", "a1"], None, {}, None, [])
    b = ([[3]], [[30]], None, ["b0"], None, {}, None, [])
    merged = _merge_generations(a, b, [0, 2], [1], 3)
    assert merged[0] == [[1], [3], [2]] and merged[3] == ["a0", "b0", "a1"]
    assert merged[2] is None and merged[5] == {} and merged[7] == []
