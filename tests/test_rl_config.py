"""TrainConfig: defaults < YAML < command line, unknown keys and bad values fail helpfully."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from prover.rl.config import (
    ConfigError,
    TrainConfig,
    config_from_argv,
    dump_yaml,
    help_text,
    load_config,
    parse_overrides,
)

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"


def _without_cache_dir(d: dict) -> dict:
    d = dict(d)
    d["model"] = {k: v for k, v in d["model"].items() if k != "cache_dir"}
    return d


def test_default_yaml_equals_the_dataclass_defaults():
    from_yaml = load_config(CONFIGS / "default.yaml")
    assert _without_cache_dir(from_yaml.to_dict()) == _without_cache_dir(TrainConfig().to_dict())


def test_embedded_default_is_small_and_warm_started():
    cfg = TrainConfig()
    assert cfg.model.is_embedded and cfg.warm_start_active and cfg.effective_few_shot == 0
    cold = load_config(None, ["--warm_start.enabled", "false"])
    assert not cold.warm_start_active and cold.effective_few_shot == 3
    hub = load_config(None, ["--model.name_or_path", "some/hub-model"])
    assert not hub.warm_start_active and hub.effective_few_shot == 0
    assert cfg.domain == "lean" and cfg.lean.backend == "wasm" and cfg.problems.source == "generator"
    assert cfg.steps <= 6 and cfg.grpo.batch_size * cfg.grpo.num_generations <= 16
    assert (cfg.grpo.clip_low, cfg.grpo.clip_high, cfg.grpo.beta, cfg.replay.ratio) == (0.2, 0.3, 0.0, 0.5)


def test_published_recipe_config():
    cfg = load_config(CONFIGS / "minif2f_kimina.yaml")
    assert cfg.model.name_or_path == "AI-MO/Kimina-Prover-Distill-1.7B"
    assert cfg.grpo.num_generations == 8 and cfg.grpo.learning_rate == 2e-6
    assert cfg.replay.ratio == 0.5 and cfg.lean.feedback_cap == 3000 and cfg.lean.backend == "native"
    assert cfg.eval.source == "minif2f" and cfg.effective_few_shot == 0


@pytest.mark.parametrize("name", ["code_humaneval.yaml", "math_gsm8k.yaml"])
def test_secondary_domain_configs_load(name):
    from prover.rl.problems import ProblemSource

    cfg = load_config(CONFIGS / name, ["--problems.limit", "3"])
    assert cfg.domain in ("code", "math") and cfg.problems.source in ("mbpp", "gsm8k")
    assert cfg.problems.split == "train"  # the evaluation split stays unseen
    problems = ProblemSource(cfg).pool(3)  # through prover.data, from the shared data directory
    assert len(problems) == 3 and {p.domain for p in problems} == {cfg.domain}


@pytest.mark.parametrize("name", ["accelerate_zero2.yaml", "accelerate_zero3.yaml"])
def test_accelerate_configs_are_deepspeed(name):
    data = yaml.safe_load((CONFIGS / name).read_text())
    assert data["distributed_type"] == "DEEPSPEED"
    assert data["deepspeed_config"]["zero_stage"] == (2 if "zero2" in name else 3)


def test_precedence_defaults_yaml_cli(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("steps: 7\ngrpo:\n  learning_rate: 3e-6\n  num_generations: 6\nlean:\n  workers: 2\n")
    cfg = load_config(path, ["--grpo.learning_rate", "1e-5", "--lora.enabled", "--replay.ratio=0.25"])
    assert cfg.steps == 7  # YAML over default
    assert cfg.grpo.learning_rate == 1e-5  # CLI over YAML ("1e-5" read as a number)
    assert cfg.grpo.num_generations == 6 and cfg.lean.workers == 2
    assert cfg.lora.enabled is True and cfg.replay.ratio == 0.25
    assert cfg.grpo.batch_size == TrainConfig().grpo.batch_size  # untouched default


def test_a_partial_section_keeps_the_parents_defaults(tmp_path):
    """Setting one key of a section keeps the other keys at the parent's defaults for that section (its
    default_factory), not at the section class's own: a run that sets problems.difficulty.max_level still
    starts at level 3, and one that sets lean.timeout_s still shows one error (a bug once reset both)."""
    want = TrainConfig()
    assert want.problems.difficulty.start_level == 3 and want.lean.max_errors == 1  # the parent's defaults
    path = tmp_path / "c.yaml"
    path.write_text("problems:\n  difficulty:\n    max_level: 4\nlean:\n  timeout_s: 30\n")
    for cfg in (load_config(path, []),
                config_from_argv(["--problems.difficulty.max_level", "4", "--lean.timeout_s", "30"]),
                load_config(None, [("problems.difficulty.max_level", "4"), ("lean.timeout_s", "30")])):
        assert cfg.problems.difficulty.max_level == 4 and cfg.lean.timeout_s == 30
        assert cfg.problems.difficulty.start_level == 3 and cfg.lean.max_errors == 1
        assert cfg.problems.pool_size == want.problems.pool_size
    # an explicit value still wins
    assert config_from_argv(["--problems.difficulty.start_level", "0"]).problems.difficulty.start_level == 0


def test_a_partial_sft_section_keeps_the_warm_start_defaults():
    from prover.config import load as load_cfg
    from prover.finetune.warm import WarmStartConfig

    base = WarmStartConfig().sft
    cfg = load_cfg(WarmStartConfig, None, [("sft.lora_rank", "4")])
    assert cfg.sft.lora_rank == 4 and cfg.sft.epochs == base.epochs


def test_parse_overrides_forms():
    assert parse_overrides(["--a.b", "1", "--c=2", "--flag", "--d-e", "x"]) == [
        ("a.b", "1"), ("c", "2"), ("flag", "true"), ("d_e", "x")]
    with pytest.raises(ConfigError, match="--key value"):
        parse_overrides(["stray"])


def test_unknown_yaml_key_names_file_line_and_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("steps: 3\ngrpo:\n  batch_size: 2\n  lerning_rate: 1e-5\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    msg = str(e.value)
    assert "grpo.lerning_rate" in msg and f"{path} line 4" in msg and "learning_rate" in msg


def test_unknown_cli_key_names_the_flag():
    with pytest.raises(ConfigError, match=r"unknown config key 'replay\.ration' \(command line --replay\.ration\)"):
        load_config(None, ["--replay.ration", "0.5"])


@pytest.mark.parametrize("args, fragments", [
    (["--grpo.num_generations", "1"], ["num_generations", "at least 2"]),
    (["--model.generation_threads", "-1"], ["model.generation_threads", "thread count"]),
    (["--grpo.clip_high", "0.1"], ["clip_high", "clip_low"]),
    (["--grpo.grad_accum", "3"], ["grad_accum", "divide"]),
    (["--grpo.beta", "-1"], ["beta", ">= 0"]),
    (["--grpo.loss_type", "ppo"], ["loss_type", "dapo"]),
    (["--grpo.temperature", "0"], ["temperature", "> 0"]),
    (["--domain", "chess"], ["domain", "lean"]),
    (["--domain", "code"], ["generator", "problems.source=jsonl"]),
    (["--replay.ratio", "1.5"], ["ratio", "[0, 1]"]),
    (["--lean.workers", "0"], ["workers", ">= 1"]),
    (["--steps", "0"], ["steps", "at least 1"]),
    (["--steps", "many"], ["steps", "integer"]),
    (["--lora.enabled", "maybe"], ["lora.enabled", "true or false"]),
    (["--lora.target_modules", "lm_head"], ["lm_head"]),
    (["--replay.few_shot", "2"], ["replay.few_shot", "'few_shot'"]),
    (["--problems.source", "jsonl"], ["problems.path"]),
    (["--problems.source", "jsonl", "--problems.path", "/nope.jsonl"], ["does not exist"]),
    (["--resume", "/no/such/run"], ["resume", "does not exist"]),
    (["--problems.difficulty.window", "0"], ["window", "positive"]),
])
def test_bad_values_fail_with_a_fix(args, fragments):
    with pytest.raises(ConfigError) as e:
        load_config(None, args)
    for fragment in fragments:
        assert fragment in str(e.value), (fragment, str(e.value))


def test_yaml_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(bad)
    section = tmp_path / "section.yaml"
    section.write_text("grpo: 3\n")
    with pytest.raises(ConfigError, match="expected a section"):
        load_config(section)
    derived = tmp_path / "derived.yaml"
    derived.write_text("replay:\n  seed: 3\n")
    with pytest.raises(ConfigError, match=r"line 2.*'seed'"):
        load_config(derived)


def test_replay_config_is_derived(tmp_path):
    cfg = load_config(None, ["--few_shot", "2", "--grpo.max_prompt_tokens", "999", "--seed", "5"])
    rc = cfg.replay_config(tmp_path)
    assert rc.few_shot == 2 and rc.max_prompt_tokens == 999 and rc.seed == 5
    assert Path(rc.db_path) == tmp_path / "replay.sqlite"
    assert load_config(None, ["--model.name_or_path", "some/model"]).effective_few_shot == 0


def test_saved_config_round_trips_and_resume_reads_it(tmp_path):
    cfg = load_config(None, ["--steps", "9", "--grpo.learning_rate", "3e-5"])
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dump_yaml(dataclasses.replace(cfg, output_dir=str(run_dir)), run_dir / "config.yaml")
    again = config_from_argv(["--resume", str(run_dir), "--steps", "12"])
    assert again.grpo.learning_rate == 3e-5 and again.steps == 12 and again.resume == str(run_dir)
    assert again.output_dir == str(run_dir)


def test_help_lists_every_key():
    text = help_text()
    for key in ("--grpo.learning_rate", "--replay.ratio", "--lean.feedback_cap", "--problems.difficulty.window",
                "--format.max_line_repeats", "--lora.r", "--resume"):
        assert key in text


def test_script_help_and_config_error_exit_code():
    script = REPO / "scripts" / "train_prover.py"
    ok = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and "--grpo.num_generations" in ok.stdout
    bad = subprocess.run([sys.executable, str(script), "--grpo.num_generations", "1"], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "config error" in bad.stderr and "at least 2" in bad.stderr
