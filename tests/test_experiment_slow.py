"""The experiment runner end to end: real SmolLM2-135M, real wasm Lean (the session's verifier), tiny sizes.

Two arms (no replay, shuffled-feedback replay) x 1 seed x 1 step from a tiny warm start, evaluated
on held-out statements with one error-fix turn; then the same command again (nothing redone).
"""

from __future__ import annotations

import json

import pytest


def _tiny(tmp_path) -> list[str]:
    return ["--out_dir", str(tmp_path / "exp"), "--seeds", "[0]", "--steps", "1",
            "--train", json.dumps({"grpo.batch_size": 2, "grpo.num_generations": 2, "grpo.max_new_tokens": 48,
                                   "grpo.grad_accum": 2, "metrics.tensorboard": False,
                                   "warm_start.pairs": 4, "warm_start.max_steps": 1,
                                   "warm_start.cache_dir": str(tmp_path / "warm")}),
            "--arms", json.dumps({"a_no_replay": {"replay.ratio": 0.0},
                                  "c_shuffled": {"replay.ratio": 0.5, "replay.feedback_mode": "shuffled"}}),
            "--eval.levels", "[0]", "--eval.per_level", "1", "--eval.minif2f_core", "1", "--eval.samples", "2",
            "--eval.correction_budget", "1", "--eval.k", "[1, 2]", "--eval.max_new_tokens", "48",
            "--eval.base_few_shot", "-1", "--resamples", "200"]


@pytest.mark.slow
@pytest.mark.lean
@pytest.mark.model
def test_experiment_end_to_end_and_equal_budget(tmp_path, lean_verifier):
    from prover.experiment.config import ExperimentConfig
    from prover.experiment.report import render_table
    from prover.experiment.runner import Experiment
    from prover.finetune.config import load_config

    cfg = load_config(ExperimentConfig, _tiny(tmp_path))
    said: list[str] = []
    results = Experiment(cfg, verifier=lean_verifier, say=said.append).run()
    out = tmp_path / "exp"

    # the same budget, counted from each run's own records (trainer_state.json, metrics.jsonl)
    for arm in ("a_no_replay", "c_shuffled"):
        done = json.loads((out / "arms" / arm / "seed0" / "done.json").read_text())
        state = json.loads((out / "arms" / arm / "seed0" / "train" / "checkpoint-1" / "trainer_state.json").read_text())
        rows = [json.loads(x) for x in (out / "arms" / arm / "seed0" / "train" / "metrics.jsonl").read_text().splitlines()]
        steps = [r for r in rows if "reward_mean" in r]
        assert done["budget"]["optimizer_steps"] == state["global_step"] == 1
        assert done["budget"]["completions"] == sum(r["completions"] for r in steps) == 4
        assert done["budget"]["infra_errors"] == 0, "the real Lean must give verdicts"
        assert done["few_shot"] == 0  # RL and evaluation start zero-shot from the warm start
    budgets = [results["arms"][a]["budget"] for a in ("a_no_replay", "c_shuffled")]
    assert budgets[0]["optimizer_steps"] == budgets[1]["optimizer_steps"]
    assert budgets[0]["completions"] == budgets[1]["completions"]

    # one start for every arm: the warm start, built once with the shared verifier
    warm = json.loads((out / "warm_start.json").read_text())
    assert warm["pairs"]["verified"] == 4 and not warm["reused"]
    arm_warm = json.loads((out / "arms" / "c_shuffled" / "seed0" / "train" / "warm_start.json").read_text())
    assert arm_warm["reused"] and arm_warm["model_dir"] == warm["model_dir"]

    # held-out evaluation with a correction turn, and a report re-derived from results.json alone
    assert results["heldout"]["problems"] == 2
    for arm in ("a_no_replay", "c_shuffled"):
        row = results["arms"][arm]
        assert set(row["heldout"]) == {"pass@1", "pass@2"} and row["heldout"]["pass@1"]["problems"] == 2
        assert row["equal_budget_gain"] is not None
    assert "delta_vs_base" in results["arms"]["c_shuffled"]["heldout"]["pass@1"]
    assert "start (zero-shot)" in results["baselines"]
    assert render_table(json.loads((out / "results.json").read_text())) == (out / "results.md").read_text()
    assert (out / "plot.png").stat().st_size > 0

    # the same command again: nothing is redone
    said.clear()
    again = Experiment(cfg, verifier=lean_verifier, say=said.append).run()
    assert sum("done earlier" in s for s in said) == 2 and not any("training" in s for s in said)
    assert again["arms"]["c_shuffled"]["heldout"] == results["arms"]["c_shuffled"]["heldout"]
