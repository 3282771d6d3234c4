"""Fast tests of the experiment's statistics, config checks and report (no model, no Lean)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.experiment import stats
from prover.experiment.config import ExperimentConfig, HeldOutOptions


def test_paired_bootstrap_identical_arms_have_a_zero_difference():
    vals = {f"p{i}": float(i % 3) / 2 for i in range(30)}
    out = stats.paired_bootstrap(vals, dict(vals), resamples=500)
    assert out["delta_vs_base"] == 0.0 and out["delta_ci95"] == [0.0, 0.0]
    lo, hi = out["ci95"]
    assert lo <= out["value"] <= hi and lo < hi


def test_paired_bootstrap_sees_a_consistent_gain_that_an_unpaired_view_would_blur():
    # problems vary a lot in difficulty, the arm is better by 0.1 on every one: pairing removes the variance
    base = {f"p{i}": (i % 10) / 10 for i in range(40)}
    arm = {k: v + 0.1 for k, v in base.items()}
    out = stats.paired_bootstrap(arm, base, resamples=500)
    assert out["delta_vs_base"] == pytest.approx(0.1)
    assert out["delta_ci95"][0] == pytest.approx(0.1) and out["delta_ci95"][1] == pytest.approx(0.1)
    # unpaired, the two arms' intervals overlap
    assert stats.paired_bootstrap(base, resamples=500)["ci95"][1] > out["ci95"][0]


def test_paired_bootstrap_refuses_different_problem_sets():
    with pytest.raises(ValueError, match="same problems"):
        stats.paired_bootstrap({"a": 1.0}, {"b": 1.0})


def test_pass_at_pools_seeds_and_pairs_against_the_reference():
    seed0 = {"p1": {"n": 4, "c": 4, "m": 2, "c_corrected": 2}, "p2": {"n": 4, "c": 0, "m": 2, "c_corrected": 1}}
    seed1 = {"p1": {"n": 4, "c": 2, "m": 2, "c_corrected": 2}, "p2": {"n": 4, "c": 0, "m": 2, "c_corrected": 0}}
    pooled = stats.pool_seeds([seed0, seed1])
    assert pooled["p1"] == {"n": 8, "c": 6, "m": 4, "c_corrected": 4}
    ref = {"p1": {"n": 8, "c": 0, "m": 4, "c_corrected": 0}, "p2": {"n": 8, "c": 0, "m": 4, "c_corrected": 0}}
    res = stats.pass_at(pooled, [1, 4, 16], ref, resamples=300)
    assert set(res) == {"pass@1", "pass@4"}  # 16 > 8 pooled samples: left out
    assert res["pass@1"]["value"] == pytest.approx((6 / 8 + 0) / 2, abs=1e-4)
    assert res["pass@1"]["delta_vs_base"] == pytest.approx(res["pass@1"]["value"], abs=1e-4)


def test_equal_budget_gain_compares_one_chain_with_two_attempts():
    counts = {"p": {"n": 2, "c": 0, "m": 1, "c_corrected": 1}, "q": {"n": 2, "c": 2, "m": 1, "c_corrected": 1}}
    gain = stats.equal_budget_gain(counts, seeds=1)
    assert gain == {"p": 1.0, "q": 0.0}
    assert stats.equal_budget_gain({"p": {"n": 2, "c": 0, "m": 0, "c_corrected": 0}}, seeds=1) is None


def test_ratio_and_by_source():
    assert stats.ratio(1, 4) == {"rate": 0.25, "num": 1, "den": 4, "ci": stats.wilson(1, 4)}
    assert stats.ratio(0, 0)["rate"] is None
    counts = {"a": {"n": 2, "c": 1, "m": 0, "c_corrected": 0}, "b": {"n": 2, "c": 2, "m": 0, "c_corrected": 0}}
    assert stats.by_source(counts, {"a": "l0", "b": "l1"}) == {"l0": {"problems": 1, "pass@1": 0.5},
                                                                "l1": {"problems": 1, "pass@1": 1.0}}


def test_config_checks_say_how_to_fix():
    with pytest.raises(ValueError, match="held-out seeds start"):
        HeldOutOptions(generator_seed=5)
    with pytest.raises(ValueError, match="runner sets"):
        ExperimentConfig(arms={"x": {"steps": 3}})
    with pytest.raises(ValueError, match="runner sets"):
        ExperimentConfig(train={"model": {"name_or_path": "other"}})
    with pytest.raises(ValueError, match="each k"):
        HeldOutOptions(samples=2, k=[4])


def test_arms_are_built_through_the_train_config_with_their_overrides():
    from prover.config import ConfigError
    from prover.experiment.runner import train_config

    cfg = ExperimentConfig(steps=3, seeds=[4], train={"grpo": {"max_new_tokens": 64}})
    a = train_config(cfg, "a_no_replay", 4, None)
    c = train_config(cfg, "c_shuffled_feedback", 4, None)
    assert (a.replay.ratio, c.replay.ratio, c.replay.feedback_mode) == (0.0, 0.5, "shuffled")
    assert a.steps == c.steps == 3 and a.seed == 4 and a.grpo.max_new_tokens == c.grpo.max_new_tokens == 64
    bad = ExperimentConfig(arms={"x": {"replay.feedback_mod": "binary"}})
    with pytest.raises(ConfigError, match="arm x"):
        train_config(bad, "x", 0, None)


def test_heldout_generated_statements_never_trainable():
    from prover.experiment.heldout import generated, trainable_statements
    from prover.finetune.warm_default import WarmStartOptions

    seen = trainable_statements([0, 1], steps=4, pool_size=16, warm_start=WarmStartOptions())
    held = generated(1_000_000, [0, 1, 2, 3], 6, seen)
    assert len(held) == 24 and not {p.statement for p in held} & seen
    assert len({p.statement for p in held}) == 24 and all(p.id.startswith("heldout-") for p in held)


def test_table_is_rederived_from_results_json(tmp_path):
    from prover.experiment.report import render_table, write_report

    stat = {"value": 0.5, "ci95": [0.25, 0.75], "problems": 2}
    row = {"budget": {"optimizer_steps": [2], "completions": [16], "completion_tokens": [100], "infra_errors": [0]},
           "heldout": {"pass@1": stat}, "heldout_by_source": {"l0": {"problems": 2, "pass@1": 0.5}},
           "equal_budget_gain": None, "inference_fix_success": {"rate": None, "num": 0, "den": 0},
           "train_fix_success": {"rate": 0.5, "num": 1, "den": 2},
           "train_correct_to_wrong": {"rate": None, "num": 0, "den": 0},
           "train_fresh_solve_rate_per_step": [0.25, 0.5], "replay_ratio_per_step": [0.0, 0.5]}
    results = {"config": {"eval": {"k": [1]}, "seeds": [0], "steps": 2}, "reference_arm": "a",
               "heldout": {"problems": 2, "by_source": {"l0": 2}}, "baselines": {}, "arms": {"a": row}}
    paths = write_report(results, tmp_path)
    again = render_table(json.loads(paths["results"].read_text()))
    assert again == paths["table"].read_text() and "0.500 [0.250, 0.750]" in again
    assert paths["plot"].stat().st_size > 0


@pytest.mark.parametrize("path", sorted((Path(__file__).resolve().parents[1] / "configs" / "experiments").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_experiment_config_loads(path):
    from prover.experiment.config import ExperimentConfig
    from prover.finetune.config import load_config

    from prover.config import ConfigError
    from prover.experiment.runner import Experiment

    cfg = load_config(ExperimentConfig, ["--config", str(path)])
    assert cfg.arms and cfg.seeds and cfg.steps >= 1
    Experiment(cfg)  # every arm's TrainConfig is built (and checked) before any work starts
    arm = next(iter(cfg.arms))
    typo = load_config(ExperimentConfig, ["--config", str(path), f"--arms.{arm}.replay.ratioo", "0"])
    with pytest.raises(ConfigError, match=rf"experiment arm {arm}: .*ratioo"):
        Experiment(typo)


def test_wilson_interval_known_values_and_edges():
    lo, hi = stats.wilson(1, 4)
    assert abs(lo - 0.0456) < 1e-3 and abs(hi - 0.6994) < 1e-3  # the textbook Wilson interval of 1 of 4
    lo, hi = stats.wilson(0, 10)
    assert lo == 0.0 and 0.27 < hi < 0.28  # not empty at 0 of n
    lo, hi = stats.wilson(10, 10)
    assert hi == 1.0 and 0.72 < lo < 0.73
    assert stats.wilson(0, 0) is None and stats.ratio(0, 0)["ci"] is None
    a, b = stats.wilson(50, 100), stats.wilson(500, 1000)
    assert a[0] < b[0] < 0.5 < b[1] < a[1]  # narrower with more trials
