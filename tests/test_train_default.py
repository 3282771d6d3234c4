"""The embedded default run end to end on CPU: SmolLM2-135M, the real wasm Lean, generated problems.

Same config path as ``python scripts/train_prover.py`` with a tiny override (2 steps, 2 prompts,
group size 2, short completions), through the session's Lean verifier.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.rl.metrics import STEP_KEYS


@pytest.mark.slow
@pytest.mark.lean
@pytest.mark.model
def test_default_run_end_to_end(tmp_path, lean_verifier):
    from prover.rl.config import config_from_argv
    from prover.rl.trainer import run

    run_dir = tmp_path / "run"
    warm_cache = tmp_path / "warm"  # a tiny warm start (4 verified pairs, 1 SFT step) in its own cache
    cfg = config_from_argv(["--output_dir", str(run_dir), "--steps", "2", "--grpo.batch_size", "2",
                            "--grpo.num_generations", "2", "--grpo.max_new_tokens", "96",
                            "--metrics.progress", "false", "--warm_start.pairs", "4", "--warm_start.max_steps", "1",
                            "--warm_start.cache_dir", str(warm_cache)])
    assert cfg.model.is_embedded and cfg.lean.backend == "wasm" and cfg.problems.source == "generator"
    assert cfg.warm_start_active and cfg.effective_few_shot == 0  # RL starts zero-shot from the warm start
    result = run(cfg, verifier=lean_verifier)

    warm = json.loads((run_dir / "warm_start.json").read_text())
    assert not warm["reused"] and warm["pairs"]["verified"] == warm["pairs"]["candidates"] == 4
    assert (Path(warm["model_dir"]) / "model.safetensors").is_file()  # merged: a plain checkpoint
    assert not list(Path(warm["model_dir"]).glob("adapter_*"))

    assert result.final_step == 2
    rows = [json.loads(line) for line in result.metrics_jsonl.read_text().splitlines()]
    steps = [r for r in rows if "reward_mean" in r]
    assert [r["step"] for r in steps] == [1, 2]
    for key in STEP_KEYS:
        assert all(key in r for r in steps), key
    assert all(r["infra_errors"] == 0 for r in steps), "the real Lean must give verdicts, not errors"
    assert steps[0]["completions"] == 4
    events = list((run_dir / "tb").glob("events.out.tfevents*"))
    assert events and events[0].stat().st_size > 0
    assert [c.name for c in result.checkpoints] == ["checkpoint-2"]
    ckpt = result.checkpoints[0]
    assert (ckpt / "model.safetensors").is_file() and (ckpt / "optimizer.pt").is_file()
    assert (ckpt / "prover_state" / "replay.sqlite").is_file()
    assert result.replay_db.is_file() and result.config_path.is_file()
    assert "metrics JSONL" in result.summary()

    # a second run reuses the cached warm start: same model, the verifier is not even asked for
    from prover.finetune.warm_default import ensure_warm_start
    from prover.policy.embedded import resolve_model

    def no_verifier():
        raise AssertionError("a cached warm start must not need the verifier")

    base = resolve_model(cfg.model.name_or_path, cfg.model.cache_dir)
    again, record = ensure_warm_start(base, cfg.warm_start, warm_cache, no_verifier, say=lambda _: None)
    assert record["reused"] and str(again) == warm["model_dir"]
