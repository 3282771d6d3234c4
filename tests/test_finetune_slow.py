"""End to end on the real small model (embedded SmolLM2) and the real code sandbox, at tiny sizes."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from prover.finetune.api import SamplingParams, answer_block, extract_code, first_attempt, load_problems
from prover.finetune import pairs as pairs_mod
from prover.finetune.sft import is_trained, policy_for, train_sft

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]


def _script_main(name: str):
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_ft_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.main


def _check_full_function_extracted(response: str, entry_point: str) -> bool:
    """When a response's final python block defines ``entry_point`` completely, the verifier's
    extraction returns that whole block (never a cut function). Returns whether it applied."""
    found = answer_block(response, entry_point)
    block = found.code if found is not None and found.closed else None
    if not block:
        return False
    try:
        tree = ast.parse(block)
    except SyntaxError:
        return False
    defs = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == entry_point]
    if not defs:
        return False
    got = extract_code(response, entry_point=entry_point)
    assert got.ok, got.message
    assert block.strip() in got.program or got.code.strip() == block.strip()
    body = ast.parse(got.code)
    fn = next(n for n in body.body if isinstance(n, ast.FunctionDef) and n.name == entry_point)
    assert fn.end_lineno - fn.lineno == defs[0].end_lineno - defs[0].lineno  # same length: nothing cut
    return True


def test_warm_start_adapter_loads_into_policy(tmp_path):
    """scripts/warm_start.py end to end: verified MBPP/GSM8K train pairs -> a PEFT adapter the policy loads."""
    main = _script_main("warm_start")
    out = tmp_path / "warm"
    args = ["--config", str(ROOT / "configs/warm_start.yaml"), "--out_dir", str(out), "--domains", "code,math",
            "--code_limit", "1", "--math_limit", "1", "--sft.max_steps", "1", "--sft.batch_size", "2",
            "--sft.max_length", "512", "--sft.cpu_threads", "1"]
    assert main(args) == 0
    model = out / "model"
    assert is_trained(model) and (model / "adapter_config.json").is_file() and (model / "adapter_model.safetensors").is_file()
    done = json.loads((model / "sft_done.json").read_text())
    assert done["pairs"] == 2 and done["steps"] == 1 and done["losses"] and done["lora"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pairs"] == {"code": {"candidates": 1, "verified": 1, "rejected": 0},
                                "math": {"candidates": 1, "verified": 1, "rejected": 0}}
    assert (out / "plot.png").is_file()
    rows = pairs_mod.load_rows(out / "pairs")
    assert train_sft(rows, "embedded:smollm2-135m", model) == model  # a finished run is reused
    policy = policy_for("embedded:smollm2-135m", model, cpu_threads=1)
    try:
        [[c]] = policy.generate([first_attempt(load_problems("mbpp:test", 1)[0])],
                                SamplingParams(n=1, temperature=0.0, max_new_tokens=8))
        assert c.text
    finally:
        policy.close()


def test_star_retry_end_to_end(tmp_path):
    main = _script_main("star_retry")

    out = tmp_path / "star"
    rc = main(["--config", str(ROOT / "configs/star_tiny.yaml"), "--out_dir", str(out), "--train_limit", "1",
               "--eval_limit", "1", "--retry_n", "1", "--max_new_tokens", "64", "--arms", "binary,shuffled,garbage"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert [a["arm"] for a in summary["arms"]] == ["base", "binary", "shuffled", "garbage"]
    assert set(summary["train_problems"]).isdisjoint(summary["eval_problems"])
    assert summary["stages"]["first"]["samples"] == 1
    assert (out / "plot.png").stat().st_size > 0 and "| base |" in (out / "results.md").read_text()
    for arm in ("binary", "shuffled", "garbage"):
        assert (out / "pairs" / arm / "provenance.json").is_file()
    # garbage copies the binary arm's shape exactly
    assert len(pairs_mod.load_rows(out / "pairs" / "garbage")) == len(pairs_mod.load_rows(out / "pairs" / "binary"))
    train = {p.id: p for p in load_problems("mbpp:train", 1)}
    first = json.loads((out / "first.json").read_text())
    for group in first:
        for s in group:
            _check_full_function_extracted(s["response"], train[s["problem_id"]].entry_point)
    # a rerun resumes from the saved stages
    assert main(["--config", str(ROOT / "configs/star_tiny.yaml"), "--out_dir", str(out), "--train_limit", "1",
                 "--eval_limit", "1", "--retry_n", "1", "--max_new_tokens", "64",
                 "--arms", "binary,shuffled,garbage"]) == 0


def test_self_mine_end_to_end(tmp_path):
    main = _script_main("self_mine")

    out = tmp_path / "mine"
    assert main(["--config", str(ROOT / "configs/selfmine_tiny.yaml"), "--out_dir", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    [rnd] = summary["rounds"]
    assert sum(rnd["dropped"].values()) + rnd["kept"] == rnd["proposed"] == 2
    assert [a["arm"] for a in summary["arms"]] == ["base", "mix", "garbage"]
    assert (out / "plot.png").is_file()
    proposals = json.loads((out / "round1" / "proposals.json").read_text())
    assert len(proposals) == 2
    for prop in proposals:
        if prop["parsed"]:
            ref = prop["parsed"]["meta"]["reference_code"]
            ast.parse(ref)  # the whole reference function, parseable on its own
            assert _check_full_function_extracted(f"```python\n{ref}\n```", prop["parsed"]["entry_point"])


def test_sft_step_bench_end_to_end():
    """bench/sft_step.py runs both configurations on the real model and prints its ratio line."""
    import re
    import sys

    sys.path.insert(0, str(ROOT / "bench"))
    import sft_step

    lines: list[str] = []
    last = sft_step.main(["--steps", "1", "--rounds", "1", "--pairs", "2"], say=lines.append)
    assert lines[-1] == last
    assert re.fullmatch(r"sft step speed-up: \d+\.\dx \(settings vs TRL defaults: bf16=\w+, "
                        r"gradient_checkpointing=\w+\)", last), last
    assert sum("s per step" in line for line in lines) == 3  # one line per run, then the means
