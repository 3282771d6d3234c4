"""One configuration path: ``prover train`` and ``prover eval`` take the same flags and give one-line errors.

Each entry point rejects a typo'd key, a wrong type and a missing file with one
line naming where (flag, or file and line) and how to fix it.
"""

from __future__ import annotations

import json

import pytest

from prover.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err.strip()


@pytest.mark.parametrize("command, key", [("train", "--grpo.num_generations"), ("eval", "--policy_options")])
def test_help_lists_every_key(capsys, command, key):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and key in out and "--config" in out


def one_line_error(capsys, *argv: str) -> str:
    code, _, err = run(capsys, *argv)
    assert code == 2 and err and "\n" not in err and "Traceback" not in err, err
    return err


def test_typo_d_keys(capsys):
    err = one_line_error(capsys, "train", "--grpo.learning_rte", "1e-5")
    assert "'grpo.learning_rte'" in err and "command line" in err and "learning_rate" in err
    err = one_line_error(capsys, "eval", "--top-q", "0.9")
    assert "'top_q'" in err and "top_p" in err
    err = one_line_error(capsys, "eval", "--policy_options.dtyp", "bfloat16")  # refused before any data loads
    assert "dtyp" in err and "dtype" in err
    err = one_line_error(capsys, "eval", "--verifier_options.timeout", "3")
    assert "timeout" in err and "timeout_s" in err
    err = one_line_error(capsys, "train", "--trl.logging_stepz", "5")
    assert "trl.logging_stepz" in err and "logging_steps" in err


def test_wrong_types(capsys, tmp_path):
    err = one_line_error(capsys, "train", "--steps", "many")
    assert "steps" in err and "integer" in err
    bad = tmp_path / "eval.yaml"
    bad.write_text("dataset: minif2f_core\nn: five\n")
    err = one_line_error(capsys, "eval", "--config", str(bad))
    assert "n (" in err and "eval.yaml line 2" in err and "integer" in err and "five" in err
    bad.write_text("steps: 2\ngrpo:\n  scale_rewards: sometimes\n")
    err = one_line_error(capsys, "train", "--config", str(bad))
    assert "scale_rewards" in err and "group" in err and "none" in err


def test_missing_files(capsys, tmp_path):
    for command in ("train", "eval"):
        err = one_line_error(capsys, command, "--config", str(tmp_path / "nope.yaml"))
        assert "nope.yaml does not exist" in err
    err = one_line_error(capsys, "train", "--domain", "code", "--problems.source", "jsonl",
                         "--problems.path", str(tmp_path / "p.jsonl"))
    assert "problems.path" in err and "does not exist" in err
    err = one_line_error(capsys, "eval", "--dataset", "jsonl", "--domain", "code", "--data_path",
                         str(tmp_path / "p.jsonl"), "--run_dir", str(tmp_path / "run"))
    assert "p.jsonl does not exist" in err


def test_same_flag_syntax_everywhere(capsys):
    code, out, _ = run(capsys, "eval", "--print-config", "--top-p", "0.5", "--no-progress", "--k=1,2",
                       "--policy_options.dtype", "float32", "--dataset", "mbpp", "--split", "test")
    cfg = json.loads(out)
    assert code == 0 and cfg["top_p"] == 0.5 and cfg["progress"] is False and cfg["k"] == [1, 2]
    assert cfg["policy_options"] == {"dtype": "float32"} and cfg["domain"] == "code"
    from prover.rl.config import config_from_argv

    tc = config_from_argv(["--grpo.scale-rewards", "none", "--no-metrics.progress", "--trl.logging_steps", "5",
                           "--metrics.report_to", "tensorboard,wandb"])
    assert tc.grpo.scale_rewards == "none" and tc.metrics.progress is False
    assert tc.trl == {"logging_steps": 5} and tc.metrics.report_to == ["tensorboard", "wandb"]
    assert config_from_argv(["--grpo.scale_rewards", "true"]).grpo.scale_rewards == "group"  # old YAML still reads


def test_grpo_config_passthrough_and_report_to(tmp_path):
    from prover.rl.config import config_from_argv
    from prover.rl.grpo_args import build_grpo_args

    cfg = config_from_argv(["--trl.logging_steps", "3", "--trl.top_k", "20", "--grpo.scale_rewards", "batch",
                            "--metrics.report_to", "tensorboard"])
    args = build_grpo_args(cfg, tmp_path, 1)
    assert args.logging_steps == 3 and args.top_k == 20 and args.scale_rewards == "batch"
    assert args.report_to == ["tensorboard"]
    from prover.config import ConfigError

    with pytest.raises(ConfigError, match="learning_rate"):  # derived fields go through their own keys
        build_grpo_args(config_from_argv(["--trl.learning_rate", "1"]), tmp_path, 1)
    with pytest.raises(ConfigError, match="not a trl.GRPOConfig field"):
        build_grpo_args(config_from_argv(["--trl.not_a_field", "1"]), tmp_path, 1)


def test_trl_version_adapter_refuses_an_untested_version(monkeypatch):
    from prover.rl import trl_compat

    trl_compat.check_versions()  # the installed versions are the tested ones
    monkeypatch.setitem(trl_compat.TESTED, "trl", ">=0.1,<0.2")
    with pytest.raises(trl_compat.TRLVersionError, match=r"pip install 'trl>=0.1,<0.2'"):
        trl_compat.check_versions()


@pytest.mark.slow
@pytest.mark.model
def test_prover_train_one_step_through_the_cli(tmp_path, capsys):
    """`prover train --steps 1 ...` end to end: the real SmolLM2, MBPP through prover.data, the real code sandbox."""
    run_dir = tmp_path / "run"
    code = main(["train", "--steps", "1", "--domain", "code", "--problems.source", "mbpp", "--problems.limit", "4",
                 "--grpo.batch_size", "2", "--grpo.num_generations", "2", "--grpo.grad_accum", "1",
                 "--grpo.max_new_tokens", "32", "--output_dir", str(run_dir), "--no-metrics.progress",
                 "--metrics.tensorboard", "false", "--verifier.workers", "1"])
    out, err = capsys.readouterr()
    assert code == 0, err[-2000:]
    assert "training finished" in out and (run_dir / "checkpoint-1").is_dir()
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    step = next(r for r in rows if r.get("step") == 1 and "reward_mean" in r)
    assert step["samples/fresh"] == 4 and "solve_rate/any_in_group" in step
