"""STaR retry on core Lean, end to end: the embedded model, the real wasm Lean (the session's warm
``lean_verifier``), LoRA fine-tuning when pairs exist, held-out generator seeds. Tiny sizes."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from prover.finetune.api import load_problems, verify
from prover.formats.lean import last_lean_block

pytestmark = [pytest.mark.slow, pytest.mark.lean, pytest.mark.model]

ROOT = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("_ft_star_retry", ROOT / "scripts" / "star_retry.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_star_retry_lean_end_to_end(tmp_path, lean_verifier):
    from prover.finetune.config import load_config
    from prover.finetune.star import StarConfig

    module = _script()
    out = tmp_path / "star_lean"
    cfg = load_config(StarConfig, ["--config", str(ROOT / "configs/star_tiny.yaml"), "--out_dir", str(out),
                                   "--domain", "lean", "--train_set", "core_lean:0:1", "--train_limit", "2",
                                   "--eval_set", "core_lean:1000000:1", "--eval_limit", "2", "--retry_n", "1",
                                   "--max_new_tokens", "64", "--few_shot", "1", "--arms", "binary,shuffled,garbage"])
    report = module.run(cfg, verifier=lean_verifier)
    assert "| base |" in report
    summary = json.loads((out / "summary.json").read_text())
    assert [a["arm"] for a in summary["arms"]] == ["base", "binary", "shuffled", "garbage"]
    assert set(summary["train_problems"]).isdisjoint(summary["eval_problems"])
    first = summary["stages"]["first"]
    assert first["problems"] == 2 and first["samples"] == 2
    # the run used the session's pool and left it running
    [still] = verify(lean_verifier, load_problems("core_lean:0:0", 1), ["no proof"])
    assert still.status.value != "error"
    # every first attempt was judged on its whole final block: re-checking that block alone agrees
    train = {p.id: p for p in load_problems("core_lean:0:1", 2)}
    for group in json.loads((out / "first.json").read_text()):
        for s in group:
            block, _ = last_lean_block(s["response"])
            if block is None:
                continue
            [v] = verify(lean_verifier, [train[s["problem_id"]]], [f"```lean4\n{block}\n```"])
            assert (v.status.value == "valid") == (s["status"] == "valid")
