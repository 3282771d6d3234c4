"""A fine-tuning script's PEFT adapter as a starting point: loaded by scripts/eval_prover.py (policy
``lora_path``) and, merged (``python -m prover.finetune.sft merge``), as scripts/train_prover.py's model.

Real parts: the embedded SmolLM2-135M, the real code sandbox and math verifier (warm start's verified
pairs; GSM8K evaluation; one GRPO step on GSM8K with the real math verifier)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
BASE = "embedded:smollm2-135m"


def _script_main(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_ad_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


@pytest.fixture(scope="module")
def adapter(tmp_path_factory) -> Path:
    """The adapter scripts/warm_start.py writes (train_sft, the writer every fine-tuning script shares)."""
    out = tmp_path_factory.mktemp("warm")
    assert _script_main("warm_start")(
        ["--config", str(ROOT / "configs/warm_start.yaml"), "--out_dir", str(out), "--domains", "code,math",
         "--code_limit", "1", "--math_limit", "1", "--sft.max_steps", "1", "--sft.batch_size", "2",
         "--sft.max_length", "512", "--sft.cpu_threads", "1"]) == 0
    model = out / "model"
    assert (model / "adapter_config.json").is_file()
    return model


def test_adapter_loads_in_eval_prover(adapter, tmp_path):
    import torch

    from prover.policy import PolicyConfig, load_policy

    run_dir = tmp_path / "eval"
    rc = _script_main("eval_prover")(
        ["--model", BASE, "--dataset", "gsm8k", "--split", "test", "--limit", "1", "--n", "1", "--k", "1",
         "--temperature", "0", "--max_new_tokens", "24", "--run_dir", str(run_dir),
         "--policy_options.lora_path", str(adapter), "--policy_options.device", "cpu"])
    assert rc == 0
    summary = json.loads(next(run_dir.glob("summary*.json")).read_text())
    assert summary["config"]["policy_options"]["lora_path"] == str(adapter)
    assert summary["problems"] == 1
    # the evaluator's policy really carries the adapter: merged weights differ from the base's
    tuned = load_policy(PolicyConfig(model=BASE, lora_path=str(adapter), device="cpu"))
    plain = load_policy(PolicyConfig(model=BASE, device="cpu"))
    try:
        name = "model.layers.0.self_attn.q_proj.weight"
        a, b = dict(tuned.model.named_parameters())[name], dict(plain.model.named_parameters())[name]
        assert a.shape == b.shape and not torch.equal(a, b)
    finally:
        tuned.close()
        plain.close()
    with pytest.raises(Exception):
        load_policy(PolicyConfig(model=BASE, lora_path=str(tmp_path / "missing"), device="cpu"))


def test_adapter_dir_starts_train_prover(adapter, tmp_path):
    """An adapter directory given as the model is merged on the fly (once) and RL starts from it."""
    from prover.finetune.sft import MERGED, main as sft_main, merged_checkpoint
    from prover.policy import resolve_model
    from prover.rl.config import config_from_argv
    from prover.rl.trainer import run

    run_dir = tmp_path / "train"
    cfg = config_from_argv(["--config", str(ROOT / "configs/math_gsm8k.yaml"), "--output_dir", str(run_dir),
                            "--model.name_or_path", str(adapter), "--steps", "1", "--save_every", "1",
                            "--grpo.batch_size", "2", "--grpo.num_generations", "2", "--grpo.grad_accum", "1",
                            "--grpo.max_new_tokens", "24", "--metrics.progress", "false", "--eval.source", ""])
    result = run(cfg)
    assert result.final_step == 1 and [c.name for c in result.checkpoints] == ["checkpoint-1"]
    assert (result.checkpoints[0] / "model.safetensors").is_file()
    merged = adapter / MERGED
    assert (merged / "config.json").is_file() and json.loads((merged / "merged_from.json").read_text())["base_model"] == BASE
    assert str(adapter) in (run_dir / "config.yaml").read_text()
    # written once, then reused: by the merge CLI, the function and the model resolver alike
    assert sft_main(["merge", str(adapter)]) == 0
    assert merged_checkpoint(adapter) == merged and resolve_model(str(adapter)) == str(merged)
    assert sft_main(["merge", str(tmp_path)]) == 2  # not an adapter: a one-line error
